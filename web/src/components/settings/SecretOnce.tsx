// A secret the API shows exactly once (a webhook's signing secret, an API
// token): selectable, with a copy button and a warning that it cannot be
// shown again. Nothing keeps it after the dialog closes.

import { Check, Copy } from 'lucide-react';
import { useState, type ReactNode } from 'react';
import { useT } from '../../i18n';
import { Dialog } from '../ops/Dialog';

export function SecretOnce({
  title,
  secret,
  warning,
  children,
  onClose,
  testid,
}: {
  title: string;
  secret: string;
  warning: string;
  children?: ReactNode;
  onClose: () => void;
  testid: string;
}) {
  const t = useT();
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = () => {
    // the Clipboard API needs a secure context and permission; when it is
    // refused the field stays selectable for a manual copy
    if (!navigator.clipboard) {
      setCopied('no');
      return;
    }
    navigator.clipboard.writeText(secret).then(
      () => setCopied('yes'),
      () => setCopied('no'),
    );
  };
  return (
    <Dialog
      title={title}
      onClose={onClose}
      testid={testid}
      wide
      footer={
        <>
          <span className="spacer" />
          <button type="button" className="button primary" onClick={onClose} data-testid="secret-done">
            {t('settings.secret.done')}
          </button>
        </>
      }
    >
      <div className="warn-box" role="status">
        {warning}
      </div>
      <div className="secret-once">
        <input
          readOnly
          className="mono"
          value={secret}
          aria-label={title}
          onFocus={(e) => e.currentTarget.select()}
          data-testid="secret-value"
        />
        <button type="button" className="button" onClick={copy} data-testid="secret-copy">
          {copied === 'yes' ? <Check size={16} aria-hidden /> : <Copy size={16} aria-hidden />}
          {copied === 'yes' ? t('settings.secret.copied') : t('settings.secret.copy')}
        </button>
      </div>
      {copied === 'no' && <p className="field-warn">{t('settings.secret.copyFailed')}</p>}
      {children}
    </Dialog>
  );
}
