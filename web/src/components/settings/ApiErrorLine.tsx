import { ApiError } from '../../api';
import { useT } from '../../i18n';

/** A failed action's §11 error where the action was: code, message,
 * details and the request id an operator can grep the logs for. */
export function ApiErrorLine({ error, testid }: { error: unknown; testid?: string }) {
  const t = useT();
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const message = e ? `${e.code}: ${e.message}${e.details ? ` (${e.details})` : ''}` : error instanceof Error ? error.message : String(error);
  return (
    <div className="alert" role="alert" data-testid={testid ?? 'settings-error'} data-code={e?.code ?? ''}>
      <div>{t('common.error', { message })}</div>
      {e?.requestId && <div className="mono muted small">{e.requestId}</div>}
    </div>
  );
}
