// A profile in one line or a few facts: codec, resolution, bitrate, ladder.

import type { Profile } from '../../api/wizard';
import { useT, type TFunction } from '../../i18n';

export function bitrateText(p: Profile, t: TFunction): string {
  return p.video_bitrate_kbps > 0 ? t('profiles.kbps', { n: p.video_bitrate_kbps }) : t('profiles.crfMode', { n: p.crf });
}

export function ladderText(p: Profile): string {
  return p.ladder
    .filter((r) => r.enabled)
    .map((r) => `${r.height}p`)
    .join(' · ');
}

export function ProfileSummary({ p }: { p: Profile }) {
  const t = useT();
  const packaging = [p.hls.enabled ? 'HLS' : '', p.dash.enabled ? 'DASH' : ''].filter(Boolean).join(' + ');
  return (
    <dl className="wz-summary">
      <dt>{t('profiles.col.codec')}</dt>
      <dd className="mono">
        {p.video_codec} / {p.audio_codec}
      </dd>
      <dt>{t('profiles.col.resolution')}</dt>
      <dd>
        {p.width}×{p.height}
      </dd>
      <dt>{t('profiles.col.bitrate')}</dt>
      <dd>{bitrateText(p, t)}</dd>
      <dt>{t('profiles.col.container')}</dt>
      <dd className="mono">
        {p.container}
        {packaging ? ` · ${packaging}` : ''}
      </dd>
      {p.ladder.length > 0 && (
        <>
          <dt>{t('profiles.col.ladder')}</dt>
          <dd>{ladderText(p) || t('profiles.ladderOff')}</dd>
        </>
      )}
    </dl>
  );
}
