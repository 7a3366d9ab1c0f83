import { useI18n } from '../../i18n';

/** A webhook's events; none means every event. */
export function EventChips({ events }: { events: string[] }) {
  const { t } = useI18n();
  if (!events.length) return <span className="muted">{t('settings.webhooks.allEvents')}</span>;
  return (
    <span className="chips">
      {events.map((e) => (
        <span className="chip mono" key={e}>
          {e}
        </span>
      ))}
    </span>
  );
}

/** Enabled or disabled. */
export function EnabledBadge({ on }: { on: boolean }) {
  const { t } = useI18n();
  return (
    <span className={`badge ${on ? 'sbadge-on' : 'sbadge-off'}`} data-enabled={on ? 'true' : 'false'}>
      {on ? t('settings.webhooks.on') : t('settings.webhooks.off')}
    </span>
  );
}
