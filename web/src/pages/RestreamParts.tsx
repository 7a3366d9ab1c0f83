// Small pieces shared by the restream pages: the status and destination
// state badges, and the Start/Stop button (operators only).

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Play, Square } from 'lucide-react';
import { restreams, type Restream } from '../api/restreams';
import { useCan } from '../auth/Can';
import { type MessageKey, useT } from '../i18n';

export function RestreamStatusBadge({ status }: { status: string }) {
  const t = useT();
  return (
    <span className={`badge restream-status-${status}`} data-testid="restream-status" data-status={status}>
      {t(`restreams.status.${status}` as MessageKey)}
    </span>
  );
}

export function DestStateBadge({ state }: { state: string | undefined }) {
  const t = useT();
  const s = state ?? 'idle';
  return (
    <span className={`badge restream-state-${s}`} data-testid="dest-state" data-state={s}>
      {t(`restreams.state.${s}` as MessageKey)}
    </span>
  );
}

/** Start when stopped, Stop while it runs; refreshes the restream
 * queries after. `error` counts as running: the service starts a failed
 * worker again with backoff until it is stopped (a Start would be refused
 * with WE-RST-003). */
export function StartStop({ r, onError }: { r: Restream; onError?: (e: unknown) => void }) {
  const t = useT();
  const qc = useQueryClient();
  const canStart = useCan('restream.start');
  const canStop = useCan('restream.stop');
  const running = r.status === 'starting' || r.status === 'streaming' || r.status === 'error';
  const m = useMutation({
    mutationFn: () => (running ? restreams.stop(r.id) : restreams.start(r.id)),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['restreams'] }),
    onError,
  });
  if (running ? !canStop : !canStart) return null;
  return (
    <button
      type="button"
      className={`button ${running ? 'danger' : 'primary'}`}
      disabled={m.isPending}
      onClick={() => m.mutate()}
      data-testid={running ? 'restream-stop' : 'restream-start'}
    >
      {running ? <Square size={14} aria-hidden /> : <Play size={14} aria-hidden />}
      {running ? t('restreams.stop') : t('restreams.start')}
    </button>
  );
}
