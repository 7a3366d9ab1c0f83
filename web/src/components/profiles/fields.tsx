// Form fields bound to a profile by member path ("hls.segment_duration_s"):
// each shows its label, its value, and the error the client check or the
// server's §11 details named for that path.

import { createContext, useContext, type ReactNode } from 'react';
import type { Profile } from '../../api/wizard';
import { useT, type MessageKey } from '../../i18n';
import { getIn, type FieldErrors } from './validate';

interface FormCtx {
  value: Profile;
  set: (path: string, v: unknown) => void;
  errors: FieldErrors;
  readOnly: boolean;
  /** prefix of every data-testid, e.g. "pf" → data-testid="pf-hls.enabled" */
  testPrefix: string;
}

const Ctx = createContext<FormCtx | null>(null);

export function ProfileFormProvider(props: FormCtx & { children: ReactNode }) {
  const { children, ...ctx } = props;
  return <Ctx.Provider value={ctx}>{children}</Ctx.Provider>;
}

export function useProfileForm(): FormCtx {
  const c = useContext(Ctx);
  if (!c) throw new Error('profile field outside ProfileFormProvider');
  return c;
}

function id(prefix: string, path: string) {
  return `${prefix}-${path.replace(/[[\].]/g, '_')}`;
}

export function FieldError({ path }: { path: string }) {
  const { errors, testPrefix } = useProfileForm();
  const msg = errors[path];
  if (!msg) return null;
  return (
    <span className="pf-error" role="alert" data-testid={`${testPrefix}-error`} data-field={path}>
      {msg}
    </span>
  );
}

interface Base {
  path: string;
  label: MessageKey;
  hint?: MessageKey;
  /** a label without the visible text (table cells) */
  bare?: boolean;
}

export function NumField({
  path,
  label,
  hint,
  bare,
  min,
  max,
  step,
  nullable,
}: Base & { min?: number; max?: number; step?: number; nullable?: boolean }) {
  const t = useT();
  const { value, set, readOnly, testPrefix, errors } = useProfileForm();
  const v = getIn(value, path) as number | null;
  return (
    <label className={`pf-field${errors[path] ? ' pf-invalid' : ''}`} htmlFor={id(testPrefix, path)}>
      <span className={bare ? 'sr-only' : undefined}>{t(label)}</span>
      <input
        id={id(testPrefix, path)}
        type="number"
        inputMode="decimal"
        min={min}
        max={max}
        step={step ?? 1}
        value={v === null || v === undefined || Number.isNaN(v) ? '' : v}
        readOnly={readOnly}
        disabled={readOnly}
        aria-invalid={!!errors[path]}
        onChange={(e) => {
          const raw = e.target.value;
          set(path, raw === '' ? (nullable ? null : NaN) : Number(raw));
        }}
        data-testid={`${testPrefix}-${path}`}
      />
      {hint && !bare && <span className="muted small">{t(hint)}</span>}
      <FieldError path={path} />
    </label>
  );
}

export function TextField({ path, label, hint, bare, disabled }: Base & { disabled?: boolean }) {
  const t = useT();
  const { value, set, readOnly, testPrefix, errors } = useProfileForm();
  return (
    <label className={`pf-field${errors[path] ? ' pf-invalid' : ''}`} htmlFor={id(testPrefix, path)}>
      <span className={bare ? 'sr-only' : undefined}>{t(label)}</span>
      <input
        id={id(testPrefix, path)}
        type="text"
        value={String(getIn(value, path) ?? '')}
        readOnly={readOnly || disabled}
        disabled={readOnly || disabled}
        aria-invalid={!!errors[path]}
        onChange={(e) => set(path, e.target.value)}
        data-testid={`${testPrefix}-${path}`}
      />
      {hint && !bare && <span className="muted small">{t(hint)}</span>}
      <FieldError path={path} />
    </label>
  );
}

export function SelectField({
  path,
  label,
  bare,
  options,
  numeric,
}: Base & { options: readonly (string | number)[] | readonly { value: string | number; label: string }[]; numeric?: boolean }) {
  const t = useT();
  const { value, set, readOnly, testPrefix, errors } = useProfileForm();
  return (
    <label className={`pf-field${errors[path] ? ' pf-invalid' : ''}`} htmlFor={id(testPrefix, path)}>
      <span className={bare ? 'sr-only' : undefined}>{t(label)}</span>
      <select
        id={id(testPrefix, path)}
        value={String(getIn(value, path) ?? '')}
        disabled={readOnly}
        aria-invalid={!!errors[path]}
        onChange={(e) => set(path, numeric ? Number(e.target.value) : e.target.value)}
        data-testid={`${testPrefix}-${path}`}
      >
        {options.map((o) => {
          const [v, l] = typeof o === 'object' ? [o.value, o.label] : [o, String(o)];
          return (
            <option key={String(v)} value={String(v)}>
              {l}
            </option>
          );
        })}
      </select>
      <FieldError path={path} />
    </label>
  );
}

export function CheckField({ path, label, bare }: Base) {
  const t = useT();
  const { value, set, readOnly, testPrefix, errors } = useProfileForm();
  return (
    <div className={`pf-check-wrap${errors[path] ? ' pf-invalid' : ''}`}>
      <label className="pf-check" htmlFor={id(testPrefix, path)}>
        <input
          id={id(testPrefix, path)}
          type="checkbox"
          checked={!!getIn(value, path)}
          disabled={readOnly}
          onChange={(e) => set(path, e.target.checked)}
          data-testid={`${testPrefix}-${path}`}
        />
        <span className={bare ? 'sr-only' : undefined}>{t(label)}</span>
      </label>
      <FieldError path={path} />
    </div>
  );
}
