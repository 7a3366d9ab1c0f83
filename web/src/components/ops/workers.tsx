// Pieces the workers list and the worker detail share: the status badge,
// the capability summary, and the admin actions (drain, undrain, remove)
// with their confirmations.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Pause, Play, Trash2 } from 'lucide-react';
import { useState } from 'react';
import { ApiError } from '../../api';
import { ops, workerDisplayStatus, type Worker } from '../../api/ops';
import { useCan } from '../../auth/Can';
import { useI18n } from '../../i18n';
import { formatBytes } from '../format';
import { ConfirmDialog } from './Dialog';

/** Store ids of offline workers may hold a slash (`host/local-3`). */
export function workerPath(id: string): string {
  return `/workers/${encodeURIComponent(id)}`;
}

export function WorkerStatusBadge({ worker }: { worker: Worker }) {
  const { t } = useI18n();
  const s = workerDisplayStatus(worker);
  return (
    <span className={`badge wbadge-${s}`} data-status={s}>
      {t(`workers.status.${s}`)}
    </span>
  );
}

/** codecs, hardware encoders, cores and memory in one line */
export function CapabilitySummary({ worker }: { worker: Worker }) {
  const { t, locale } = useI18n();
  const c = worker.capabilities;
  if (!c) return <span className="muted">{t('workers.noHello')}</span>;
  const parts = [
    (c.video_codecs ?? []).join(', '),
    c.hw_encoders?.length ? t('workers.hwCount', { n: c.hw_encoders.length }) : '',
    c.cores != null ? t('workers.coresN', { n: c.cores }) : '',
    c.memory_bytes != null ? formatBytes(c.memory_bytes, locale) : '',
  ].filter(Boolean);
  return <span className="small">{parts.join(' · ')}</span>;
}

type Pending = 'drain' | 'undrain' | 'remove' | null;

export function WorkerActions({ worker, onRemoved, compact }: { worker: Worker; onRemoved?: () => void; compact?: boolean }) {
  const { t } = useI18n();
  const canDrain = useCan('worker.drain');
  const canDelete = useCan('worker.delete');
  const qc = useQueryClient();
  const [ask, setAsk] = useState<Pending>(null);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const busy = (worker.task_ids?.length ?? 0) > 0;
  const draining = worker.status === 'draining' || !!worker.draining;
  const offline = worker.status === 'offline';

  const act = useMutation({
    mutationFn: async (what: Exclude<Pending, null>) => {
      if (what === 'drain') return ops.drain(worker.id);
      if (what === 'undrain') return ops.undrain(worker.id);
      return ops.removeWorker(worker.id, force);
    },
    onSuccess: (_r, what) => {
      setAsk(null);
      setError(null);
      void qc.invalidateQueries({ queryKey: ['workers'] });
      if (what === 'remove') onRemoved?.();
    },
    onError: (e) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)),
  });

  if (!canDrain && !canDelete) return null;
  const close = () => {
    setAsk(null);
    setError(null);
    setForce(false);
  };
  return (
    <div className={`row-actions ${compact ? 'compact' : ''}`}>
      {canDrain && !offline && !draining && (
        <button className="button" onClick={() => setAsk('drain')} data-testid="worker-drain" title={t('workers.drain')}>
          <Pause size={16} aria-hidden /> <span className={compact ? 'hide-narrow' : ''}>{t('workers.drain')}</span>
        </button>
      )}
      {canDrain && !offline && draining && (
        <button className="button" onClick={() => setAsk('undrain')} data-testid="worker-undrain" title={t('workers.undrain')}>
          <Play size={16} aria-hidden /> <span className={compact ? 'hide-narrow' : ''}>{t('workers.undrain')}</span>
        </button>
      )}
      {canDelete && (
        <button className="button danger" onClick={() => setAsk('remove')} data-testid="worker-remove" title={t('workers.remove')}>
          <Trash2 size={16} aria-hidden /> <span className={compact ? 'hide-narrow' : ''}>{t('workers.remove')}</span>
        </button>
      )}
      {ask && (
        <ConfirmDialog
          title={t(`workers.confirm.${ask}.title`, { id: worker.id })}
          message={t(`workers.confirm.${ask}.text`, { id: worker.id })}
          confirmLabel={t(`workers.${ask}`)}
          danger={ask === 'remove'}
          busy={act.isPending || (ask === 'remove' && busy && !force)}
          onConfirm={() => act.mutate(ask)}
          onClose={close}
        >
          {ask === 'remove' && busy && (
            <label className="check">
              <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="worker-force" />
              {t('workers.force')}
            </label>
          )}
          {error && (
            <div className="alert" role="alert" data-testid="worker-action-error">
              {error}
            </div>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}
