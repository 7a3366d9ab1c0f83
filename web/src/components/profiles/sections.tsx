// The profile form's sections, shared by the profile editor (all of them)
// and the new-job wizard (video/audio for "Custom", packaging for step 3).

import { Plus, Trash2 } from 'lucide-react';
import type { ReactNode } from 'react';
import {
  AUDIO_CODECS,
  CONTAINERS,
  newRung,
  PRESETS,
  SAMPLE_RATES,
  SUBTITLE_MODES,
  VIDEO_CODECS,
  type Rung,
} from '../../api/wizard';
import { useT, type MessageKey } from '../../i18n';
import { CheckField, FieldError, NumField, SelectField, TextField, useProfileForm } from './fields';

export function Section({ heading, children, testid }: { heading: MessageKey; children: ReactNode; testid?: string }) {
  const t = useT();
  return (
    <section className="card pf-section" data-testid={testid}>
      <h2>{t(heading)}</h2>
      <div className="pf-grid">{children}</div>
    </section>
  );
}

export function BasicSection({ isNew }: { isNew: boolean }) {
  return (
    <Section heading="profiles.s.basic">
      <TextField path="id" label="profiles.f.id" hint={isNew ? 'profiles.h.id' : undefined} disabled={!isNew} />
      <TextField path="name" label="profiles.f.name" />
      <div className="pf-wide">
        <TextField path="description" label="profiles.f.description" />
      </div>
    </Section>
  );
}

export function VideoFields() {
  return (
    <>
      <SelectField path="video_codec" label="profiles.f.video_codec" options={VIDEO_CODECS} />
      <NumField path="width" label="profiles.f.width" min={16} max={7680} step={2} />
      <NumField path="height" label="profiles.f.height" min={16} max={4320} step={2} />
      <NumField path="video_bitrate_kbps" label="profiles.f.video_bitrate_kbps" hint="profiles.h.bitrate" min={0} max={200000} />
      <NumField path="crf" label="profiles.f.crf" min={0} max={63} />
      <SelectField path="preset" label="profiles.f.preset" options={PRESETS} />
    </>
  );
}

export function AudioFields() {
  return (
    <>
      <SelectField path="audio_codec" label="profiles.f.audio_codec" options={AUDIO_CODECS} />
      <NumField path="audio_bitrate_kbps" label="profiles.f.audio_bitrate_kbps" min={8} max={512} />
    </>
  );
}

export function VideoSection() {
  return (
    <Section heading="profiles.s.video">
      <VideoFields />
      <NumField path="max_bitrate_kbps" label="profiles.f.max_bitrate_kbps" hint="profiles.h.maxBitrate" min={0} max={250000} />
      <NumField path="buffer_kbps" label="profiles.f.buffer_kbps" min={0} max={500000} />
      <NumField path="keyframe_interval_s" label="profiles.f.keyframe_interval_s" min={1} max={20} />
      <SelectField path="bit_depth" label="profiles.f.bit_depth" options={[8, 10]} numeric />
      <CheckField path="pad" label="profiles.f.pad" />
      <CheckField path="prefer_hardware" label="profiles.f.prefer_hardware" />
    </Section>
  );
}

export function AudioSection() {
  return (
    <Section heading="profiles.s.audio">
      <AudioFields />
      <SelectField path="audio_sample_rate" label="profiles.f.audio_sample_rate" options={SAMPLE_RATES} numeric />
      <NumField path="audio_channels" label="profiles.f.audio_channels" min={1} max={8} />
    </Section>
  );
}

/** Container, HLS and DASH. */
export function PackagingFields() {
  const { value } = useProfileForm();
  return (
    <>
      <SelectField path="container" label="profiles.f.container" options={CONTAINERS} />
      <div className="pf-wide pf-sub">
        <CheckField path="hls.enabled" label="profiles.f.hls.enabled" />
        {value.hls.enabled && (
          <div className="pf-grid">
            <NumField path="hls.segment_duration_s" label="profiles.f.segment_duration_s" min={1} max={30} step={0.5} />
            <SelectField path="hls.segment_type" label="profiles.f.hls.segment_type" options={['ts', 'fmp4']} />
            <SelectField path="hls.encryption" label="profiles.f.hls.encryption" options={['none', 'aes-128']} />
          </div>
        )}
        {!value.hls.enabled && <FieldError path="hls.encryption" />}
      </div>
      <div className="pf-wide pf-sub">
        <CheckField path="dash.enabled" label="profiles.f.dash.enabled" />
        {value.dash.enabled && (
          <div className="pf-grid">
            <NumField path="dash.segment_duration_s" label="profiles.f.segment_duration_s" min={1} max={30} step={0.5} />
          </div>
        )}
      </div>
    </>
  );
}

export function PackagingSection() {
  return (
    <Section heading="profiles.s.packaging">
      <PackagingFields />
    </Section>
  );
}

/** The ABR ladder: `full` edits every rung (the editor), otherwise each
 * rung can only be switched on or off (the wizard). */
export function LadderSection({ full }: { full: boolean }) {
  const t = useT();
  const { value, set, readOnly, testPrefix } = useProfileForm();
  const rungs = value.ladder;
  const setRungs = (r: Rung[]) => set('ladder', r);
  return (
    <section className="card pf-section" data-testid={`${testPrefix}-ladder`}>
      <h2>{t('profiles.s.ladder')}</h2>
      {rungs.length === 0 ? (
        <p className="muted">{t('profiles.ladderEmpty')}</p>
      ) : (
        <div className="table-wrap">
          <table className="pf-ladder">
            <thead>
              <tr>
                <th>{t('profiles.f.rung.enabled')}</th>
                <th>{t('profiles.f.rung.name')}</th>
                <th>{t('profiles.f.width')}</th>
                <th>{t('profiles.f.height')}</th>
                <th>{t('profiles.f.video_bitrate_kbps')}</th>
                {full && <th>{t('profiles.f.max_bitrate_kbps')}</th>}
                {full && <th>{t('profiles.f.audio_bitrate_kbps')}</th>}
                {full && !readOnly && <th />}
              </tr>
            </thead>
            <tbody>
              {rungs.map((r, i) => (
                <tr key={i} data-rung={i} data-enabled={r.enabled}>
                  <td>
                    <CheckField path={`ladder[${i}].enabled`} label="profiles.f.rung.enabled" bare />
                  </td>
                  {full ? (
                    <>
                      <td>
                        <TextField path={`ladder[${i}].name`} label="profiles.f.rung.name" bare />
                      </td>
                      <td>
                        <NumField path={`ladder[${i}].width`} label="profiles.f.width" bare step={2} />
                      </td>
                      <td>
                        <NumField path={`ladder[${i}].height`} label="profiles.f.height" bare step={2} />
                      </td>
                      <td>
                        <NumField path={`ladder[${i}].video_bitrate_kbps`} label="profiles.f.video_bitrate_kbps" bare />
                      </td>
                      <td>
                        <NumField path={`ladder[${i}].max_bitrate_kbps`} label="profiles.f.max_bitrate_kbps" bare />
                      </td>
                      <td>
                        <NumField path={`ladder[${i}].audio_bitrate_kbps`} label="profiles.f.audio_bitrate_kbps" bare />
                      </td>
                      {!readOnly && (
                        <td>
                          <button
                            type="button"
                            className="icon-button"
                            aria-label={t('profiles.removeRung')}
                            title={t('profiles.removeRung')}
                            onClick={() => setRungs(rungs.filter((_, j) => j !== i))}
                            data-testid={`${testPrefix}-rung-remove`}
                          >
                            <Trash2 size={16} aria-hidden />
                          </button>
                        </td>
                      )}
                    </>
                  ) : (
                    <>
                      <td className="mono">{r.name}</td>
                      <td>{r.width}</td>
                      <td>{r.height}</td>
                      <td>{r.video_bitrate_kbps}</td>
                    </>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <FieldError path="ladder" />
      {full && !readOnly && rungs.length < 8 && (
        <button
          type="button"
          className="button"
          onClick={() => setRungs([...rungs, { ...newRung(), name: `r${rungs.length + 1}` }])}
          data-testid={`${testPrefix}-rung-add`}
        >
          <Plus size={16} aria-hidden />
          {t('profiles.addRung')}
        </button>
      )}
    </section>
  );
}

export function ThumbnailFields() {
  const { value } = useProfileForm();
  return (
    <>
      <CheckField path="thumbnails.poster" label="profiles.f.thumbnails.poster" />
      <NumField path="thumbnails.interval_s" label="profiles.f.thumbnails.interval_s" hint="profiles.h.interval" min={0} max={3600} />
      <NumField path="thumbnails.width" label="profiles.f.thumbnails.width" min={16} max={3840} step={2} />
      <CheckField path="thumbnails.sprite" label="profiles.f.thumbnails.sprite" />
      {value.thumbnails.sprite && (
        <NumField path="thumbnails.sprite_columns" label="profiles.f.thumbnails.sprite_columns" min={1} max={20} />
      )}
      <CheckField path="thumbnails.storyboard" label="profiles.f.thumbnails.storyboard" />
    </>
  );
}

export function SubtitleFields() {
  const t = useT();
  const { value, set, readOnly, testPrefix } = useProfileForm();
  const formats = value.subtitles.formats;
  const toggle = (f: string, on: boolean) =>
    set('subtitles.formats', on ? [...formats.filter((x) => x !== f), f] : formats.filter((x) => x !== f));
  return (
    <>
      <SelectField
        path="subtitles.mode"
        label="profiles.f.subtitles.mode"
        options={SUBTITLE_MODES.map((m) => ({ value: m, label: t(`profiles.sub.${m}`) }))}
      />
      {value.subtitles.mode === 'extract' && (
        <fieldset className="pf-field pf-formats">
          <legend>{t('profiles.f.subtitles.formats')}</legend>
          {['vtt', 'srt'].map((f) => (
            <label key={f} className="pf-check">
              <input
                type="checkbox"
                checked={formats.includes(f)}
                disabled={readOnly}
                onChange={(e) => toggle(f, e.target.checked)}
                data-testid={`${testPrefix}-subtitles.formats.${f}`}
              />
              <span className="mono">{f}</span>
            </label>
          ))}
          <FieldError path="subtitles.formats" />
        </fieldset>
      )}
      {value.subtitles.mode === 'burn' && (
        <NumField path="subtitles.burn_track" label="profiles.f.subtitles.burn_track" min={0} max={63} />
      )}
    </>
  );
}

export function AudioOptionFields() {
  return (
    <>
      <CheckField path="audio.passthrough_when_compatible" label="profiles.f.audio.passthrough" />
      <NumField path="audio.normalize_lufs" label="profiles.f.audio.normalize_lufs" hint="profiles.h.lufs" min={-70} max={-5} nullable />
      <CheckField path="audio.keep_all_tracks" label="profiles.f.audio.keep_all_tracks" />
    </>
  );
}

export function AdvancedSection() {
  return (
    <Section heading="profiles.s.advanced">
      <NumField path="max_attempts" label="profiles.f.max_attempts" min={1} max={10} />
      <NumField path="segment_min_s" label="profiles.f.segment_min_s" min={0} max={3600} step={0.5} />
      <NumField path="segment_target_s" label="profiles.f.segment_target_s" min={0} max={3600} step={0.5} />
      <NumField path="segment_max_s" label="profiles.f.segment_max_s" min={0} max={3600} step={0.5} />
    </Section>
  );
}
