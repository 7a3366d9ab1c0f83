import { useQuery } from '@tanstack/react-query';
import { settings, type Delivery } from '../../api/settings';
import { useI18n } from '../../i18n';

/** A delivery's state as a badge, with the last HTTP status ("0": no answer). */
export function DeliveryBadge({ d }: { d: Delivery }) {
  const { t } = useI18n();
  const known = ['pending', 'delivering', 'succeeded', 'failed'].includes(d.state);
  return (
    <span className={`badge dbadge-${known ? d.state : 'other'}`} data-state={d.state} data-status={d.last_status ?? ''}>
      {known ? t(`settings.delivery.${d.state as 'pending'}`) : d.state}
      {d.last_status != null && ` · ${d.last_status}`}
    </span>
  );
}

/** The newest delivery of a webhook (the list API does not carry it). */
export function LastDelivery({ id }: { id: string }) {
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['webhook', id, 'deliveries', 'last'], queryFn: () => settings.deliveries(id, 1, 0) });
  const d = q.data?.deliveries[0];
  if (q.isError) return <span className="muted">–</span>;
  if (!q.data) return <span className="muted">…</span>;
  if (!d) return <span className="muted">{t('settings.webhooks.never')}</span>;
  return <DeliveryBadge d={d} />;
}
