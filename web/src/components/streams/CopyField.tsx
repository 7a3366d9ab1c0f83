import { Check, Copy } from 'lucide-react';
import { useEffect, useState, type ReactNode } from 'react';
import { useT } from '../../i18n';
import { copyText } from './ingest';

/** One ingest setting the way an encoder asks for it: a label, the value
 * (read-only, selectable) and a Copy button when there is a value to copy. */
export function CopyField({
  label,
  value,
  display,
  testid,
  extra,
}: {
  label: string;
  /** what Copy puts on the clipboard; none: nothing to copy (masked) */
  value: string | null;
  /** what is shown instead of the value (a masked key) */
  display?: string;
  testid: string;
  extra?: ReactNode;
}) {
  const t = useT();
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  useEffect(() => setCopied(null), [value]);
  return (
    <div className="copy-field" data-testid={testid}>
      <span className="copy-label">{label}</span>
      <div className="copy-row">
        <input
          readOnly
          className="mono"
          value={value ?? display ?? ''}
          data-testid={`${testid}-value`}
          data-masked={value === null ? 'true' : 'false'}
          aria-label={label}
          onFocus={(e) => e.target.select()}
        />
        {value !== null && (
          <button
            type="button"
            className="button"
            onClick={() => void copyText(value).then((ok) => setCopied(ok ? 'yes' : 'no'))}
            data-testid={`${testid}-copy`}
          >
            {copied === 'yes' ? <Check size={16} aria-hidden /> : <Copy size={16} aria-hidden />}
            {copied === 'yes' ? t('streams.copied') : t('streams.copy')}
          </button>
        )}
        {extra}
      </div>
      {copied === 'no' && <span className="muted small">{t('streams.copyFailed')}</span>}
    </div>
  );
}
