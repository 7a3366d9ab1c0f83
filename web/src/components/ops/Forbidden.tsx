import { useT } from '../../i18n';

/** A page the role may not see: the API would answer 403 anyway. */
export function Forbidden({ title }: { title: string }) {
  const t = useT();
  return (
    <div className="page">
      <h1>{title}</h1>
      <div className="alert" role="alert" data-testid="forbidden">
        {t('common.forbidden')}
      </div>
    </div>
  );
}
