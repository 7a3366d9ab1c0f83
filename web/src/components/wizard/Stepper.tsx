// The wizard's stepper: numbered steps in a row; on a phone only the
// numbers and the current step's name, so it never scrolls sideways.

import { Check } from 'lucide-react';
import { useT, type MessageKey } from '../../i18n';

export function Stepper({
  steps,
  current,
  reached,
  errorStep,
  onGo,
}: {
  steps: readonly MessageKey[];
  current: number;
  reached: number;
  errorStep: number | null;
  onGo: (i: number) => void;
}) {
  const t = useT();
  return (
    <nav aria-label={t('wizard.steps')} className="wz-stepper-wrap">
      <ol className="wz-stepper" data-testid="wizard-stepper">
        {steps.map((label, i) => {
          const state = i === current ? 'current' : i < current ? 'done' : 'todo';
          return (
            <li key={label} className={`wz-step wz-${state}${errorStep === i ? ' wz-step-error' : ''}`}>
              <button
                type="button"
                onClick={() => onGo(i)}
                disabled={i > reached}
                aria-current={i === current ? 'step' : undefined}
                data-testid={`wizard-step-${i + 1}`}
              >
                <span className="wz-num" aria-hidden>
                  {state === 'done' && errorStep !== i ? <Check size={14} /> : i + 1}
                </span>
                <span className="wz-label">{t(label)}</span>
              </button>
            </li>
          );
        })}
      </ol>
      <p className="wz-step-of muted small">
        {t('wizard.stepOf', { n: current + 1, total: steps.length, name: t(steps[current] as MessageKey) })}
      </p>
    </nav>
  );
}
