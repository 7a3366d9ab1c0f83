// Step 3: container and packaging for this job (sent as profile overrides,
// or inside the custom profile), where the outputs go, and the priority.

import type { Profile } from '../../api/wizard';
import { useT } from '../../i18n';
import { ProfileFormProvider } from '../profiles/fields';
import { AudioOptionFields, LadderSection, PackagingFields, Section, SubtitleFields, ThumbnailFields } from '../profiles/sections';
import { setIn, type FieldErrors } from '../profiles/validate';

export function OutputStep({
  value,
  onChange,
  errors,
  outputUrl,
  setOutputUrl,
  priority,
  setPriority,
}: {
  value: Profile;
  onChange: (p: Profile) => void;
  errors: FieldErrors;
  outputUrl: string;
  setOutputUrl: (s: string) => void;
  priority: number;
  setPriority: (n: number) => void;
}) {
  const t = useT();
  return (
    <ProfileFormProvider
      value={value}
      set={(path, v) => onChange(setIn(value, path, v))}
      errors={errors}
      readOnly={false}
      testPrefix="out"
    >
      <Section heading="profiles.s.packaging">
        <PackagingFields />
      </Section>
      {value.ladder.length > 0 && <LadderSection full={false} />}
      <Section heading="profiles.s.thumbnails">
        <ThumbnailFields />
      </Section>
      <Section heading="profiles.s.subtitles">
        <SubtitleFields />
      </Section>
      <Section heading="profiles.s.audioOptions">
        <AudioOptionFields />
      </Section>
      <section className="card pf-section">
        <h2>{t('wizard.output.where')}</h2>
        <div className="pf-grid">
          <label className={`pf-field pf-wide${errors.output_url ? ' pf-invalid' : ''}`}>
            <span>{t('wizard.output.url')}</span>
            <input
              type="text"
              value={outputUrl}
              placeholder={t('wizard.output.urlPlaceholder')}
              onChange={(e) => setOutputUrl(e.target.value)}
              data-testid="out-output_url"
            />
            <span className="muted small">{t('wizard.output.urlHint')}</span>
            {errors.output_url && (
              <span className="pf-error" role="alert">
                {errors.output_url}
              </span>
            )}
          </label>
          <label className={`pf-field${errors.priority ? ' pf-invalid' : ''}`}>
            <span>{t('wizard.output.priority')}</span>
            <input
              type="number"
              min={0}
              max={100}
              value={Number.isNaN(priority) ? '' : priority}
              onChange={(e) => setPriority(e.target.value === '' ? NaN : Number(e.target.value))}
              data-testid="out-priority"
            />
            <span className="muted small">{t('wizard.output.priorityHint')}</span>
            {errors.priority && (
              <span className="pf-error" role="alert">
                {errors.priority}
              </span>
            )}
          </label>
        </div>
      </section>
    </ProfileFormProvider>
  );
}
