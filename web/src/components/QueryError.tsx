import { ApiError } from '../api';
import { useT } from '../i18n';

/** A failed request, with the §11 code and request id an operator can grep
 * the service's logs for. */
export function QueryError({ error, retry }: { error: unknown; retry?: () => void }) {
  const t = useT();
  const e = error instanceof ApiError ? error : null;
  const message = e?.isForbidden ? t('common.forbidden') : error instanceof Error ? error.message : String(error);
  return (
    <div className="alert" role="alert">
      <div>{t('common.error', { message })}</div>
      {e && (
        <div className="mono muted small">
          {e.code}
          {e.requestId ? ` · ${e.requestId}` : ''}
        </div>
      )}
      {retry && (
        <button className="button" onClick={retry}>
          {t('common.retry')}
        </button>
      )}
    </div>
  );
}
