// An accessible modal on the native <dialog> (showModal): the browser traps
// focus, Escape closes it, the rest of the page is inert; on a phone it
// takes the whole width (ops.css).

import { X } from 'lucide-react';
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { useT } from '../../i18n';

export function Dialog({
  title,
  onClose,
  children,
  footer,
  testid,
  wide,
}: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  testid?: string;
  wide?: boolean;
}) {
  const t = useT();
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const opener = document.activeElement as HTMLElement | null;
    if (!d.open) d.showModal();
    // Escape: the browser fires "cancel"; the parent decides (it unmounts us)
    const onCancel = (e: Event) => {
      e.preventDefault();
      closeRef.current();
    };
    d.addEventListener('cancel', onCancel);
    return () => {
      d.removeEventListener('cancel', onCancel);
      if (d.open) d.close();
      opener?.focus?.();
    };
  }, []);

  return (
    <dialog ref={ref} className={`ops-dialog ${wide ? 'wide' : ''}`} aria-labelledby={titleId} data-testid={testid}>
      <div className="ops-dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon-button" onClick={onClose} aria-label={t('ops.close')} data-testid="dialog-close">
          <X size={18} aria-hidden />
        </button>
      </div>
      <div className="ops-dialog-body">{children}</div>
      {footer && <div className="ops-dialog-foot">{footer}</div>}
    </dialog>
  );
}

/** A yes/no question; `children` may add options (a "force" checkbox). */
export function ConfirmDialog({
  title,
  message,
  confirmLabel,
  danger,
  busy,
  onConfirm,
  onClose,
  children,
}: {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onClose: () => void;
  children?: ReactNode;
}) {
  const t = useT();
  return (
    <Dialog
      title={title}
      onClose={onClose}
      testid="confirm-dialog"
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            {t('ops.cancel')}
          </button>
          <button
            type="button"
            className={`button ${danger ? 'danger' : 'primary'}`}
            onClick={onConfirm}
            disabled={busy}
            data-testid="confirm-ok"
          >
            {confirmLabel}
          </button>
        </>
      }
    >
      <p>{message}</p>
      {children}
    </Dialog>
  );
}
