// Step 2: a stored profile (built-in or custom) with its summary, or
// "Custom": the main members of a profile for this job alone.

import { Lock, SlidersHorizontal } from 'lucide-react';
import type { Profile } from '../../api/wizard';
import { useT } from '../../i18n';
import { ProfileFormProvider } from '../profiles/fields';
import { AudioFields, Section, VideoFields } from '../profiles/sections';
import { ProfileSummary } from '../profiles/summary';
import { setIn, type FieldErrors } from '../profiles/validate';

export function ProfileStep({
  profiles,
  mode,
  profileId,
  onPick,
  onCustom,
  custom,
  setCustom,
  errors,
}: {
  profiles: Profile[];
  mode: 'preset' | 'custom';
  profileId: string;
  onPick: (id: string) => void;
  onCustom: () => void;
  custom: Profile;
  setCustom: (p: Profile) => void;
  errors: FieldErrors;
}) {
  const t = useT();
  return (
    <div className="wz-profile-step">
      <div className="wz-cards" role="radiogroup" aria-label={t('wizard.profile.pick')}>
        {profiles.map((p) => {
          const on = mode === 'preset' && p.id === profileId;
          return (
            <button
              key={p.id}
              type="button"
              role="radio"
              aria-checked={on}
              className={`wz-card${on ? ' wz-card-on' : ''}`}
              onClick={() => onPick(p.id)}
              data-testid={`wizard-profile-${p.id}`}
            >
              <span className="wz-card-title">
                {p.name}
                {p.builtin && <Lock size={12} aria-label={t('profiles.builtin')} />}
              </span>
              {p.description && <span className="muted small">{p.description}</span>}
              <ProfileSummary p={p} />
            </button>
          );
        })}
        <button
          type="button"
          role="radio"
          aria-checked={mode === 'custom'}
          className={`wz-card${mode === 'custom' ? ' wz-card-on' : ''}`}
          onClick={onCustom}
          data-testid="wizard-profile-custom"
        >
          <span className="wz-card-title">
            <SlidersHorizontal size={14} aria-hidden />
            {t('wizard.profile.custom')}
          </span>
          <span className="muted small">{t('wizard.profile.customHint')}</span>
        </button>
      </div>
      {mode === 'custom' && (
        <ProfileFormProvider
          value={custom}
          set={(path, v) => setCustom(setIn(custom, path, v))}
          errors={errors}
          readOnly={false}
          testPrefix="custom"
        >
          <Section heading="profiles.s.video" testid="wizard-custom">
            <VideoFields />
          </Section>
          <Section heading="profiles.s.audio">
            <AudioFields />
          </Section>
        </ProfileFormProvider>
      )}
    </div>
  );
}
