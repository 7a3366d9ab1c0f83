import { Radio } from 'lucide-react';
import { useT } from '../../i18n';

/** On air or not, as a badge (red while live). */
export function LiveBadge({ live }: { live: boolean }) {
  const t = useT();
  return (
    <span className={`badge ${live ? 'stream-live' : 'stream-offline'}`} data-testid="live-badge" data-live={live ? 'true' : 'false'}>
      {live && <Radio size={12} aria-hidden />} {live ? t('streams.live') : t('streams.offline')}
    </span>
  );
}
