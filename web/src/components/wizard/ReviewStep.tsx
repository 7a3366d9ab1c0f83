// Step 4: everything the job will be submitted with, in one list.

import type { Profile } from '../../api/wizard';
import { useT } from '../../i18n';
import { bitrateText, ladderText } from '../profiles/summary';

export function ReviewStep({
  source,
  profile,
  custom,
  changed,
  outputUrl,
  priority,
}: {
  source: string;
  profile: Profile;
  custom: boolean;
  changed: string[];
  outputUrl: string;
  priority: number;
}) {
  const t = useT();
  const yes = t('wizard.review.yes');
  const no = t('wizard.review.no');
  const thumbs = [
    profile.thumbnails.poster ? t('profiles.f.thumbnails.poster') : '',
    profile.thumbnails.interval_s > 0 ? t('wizard.review.every', { s: profile.thumbnails.interval_s }) : '',
    profile.thumbnails.sprite ? t('profiles.f.thumbnails.sprite') : '',
  ].filter(Boolean);
  return (
    <section className="card" data-testid="wizard-review">
      <dl className="facts wz-review">
        <dt>{t('wizard.review.source')}</dt>
        <dd className="mono wz-break" data-testid="review-source">
          {source}
        </dd>
        <dt>{t('wizard.review.profile')}</dt>
        <dd data-testid="review-profile">
          {custom ? t('wizard.profile.custom') : profile.name}
          {!custom && changed.length > 0 && (
            <span className="muted small"> · {t('wizard.review.changed', { members: changed.join(', ') })}</span>
          )}
        </dd>
        <dt>{t('profiles.col.codec')}</dt>
        <dd className="mono">
          {profile.video_codec} / {profile.audio_codec}
          {profile.audio_codec !== 'none' ? ` ${t('profiles.kbps', { n: profile.audio_bitrate_kbps })}` : ''}
        </dd>
        <dt>{t('profiles.col.resolution')}</dt>
        <dd>
          {profile.width}×{profile.height} · {bitrateText(profile, t)} · {profile.preset}
        </dd>
        <dt>{t('profiles.f.container')}</dt>
        <dd className="mono" data-testid="review-container">
          {profile.container}
        </dd>
        <dt>{t('profiles.f.hls.enabled')}</dt>
        <dd data-testid="review-hls">
          {profile.hls.enabled
            ? `${yes} · ${t('wizard.review.seconds', { s: profile.hls.segment_duration_s })} · ${profile.hls.segment_type}${
                profile.hls.encryption !== 'none' ? ` · ${profile.hls.encryption}` : ''
              }`
            : no}
        </dd>
        <dt>{t('profiles.f.dash.enabled')}</dt>
        <dd data-testid="review-dash">
          {profile.dash.enabled ? `${yes} · ${t('wizard.review.seconds', { s: profile.dash.segment_duration_s })}` : no}
        </dd>
        {profile.ladder.length > 0 && (
          <>
            <dt>{t('profiles.s.ladder')}</dt>
            <dd>{ladderText(profile) || '—'}</dd>
          </>
        )}
        <dt>{t('profiles.s.thumbnails')}</dt>
        <dd>{thumbs.length ? thumbs.join(' · ') : no}</dd>
        <dt>{t('profiles.s.subtitles')}</dt>
        <dd>{t(`profiles.sub.${profile.subtitles.mode}`)}</dd>
        <dt>{t('wizard.output.url')}</dt>
        <dd className="mono wz-break">{outputUrl || t('wizard.review.defaultOutput')}</dd>
        <dt>{t('wizard.output.priority')}</dt>
        <dd>{priority}</dd>
      </dl>
    </section>
  );
}
