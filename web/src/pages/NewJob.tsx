// Placeholder until the page is built (issue 9); the route and nav exist.
import { useT } from '../i18n';

export function NewJob() {
  const t = useT();
  return <p className="muted">{t('common.loading')}</p>;
}
