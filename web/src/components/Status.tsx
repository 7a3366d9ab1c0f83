import type { JobStatus } from '../api/types';
import { useT } from '../i18n';

export function StatusBadge({ status }: { status: JobStatus }) {
  const t = useT();
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {t(`status.${status}`)}
    </span>
  );
}

export function ProgressBar({ pct, label }: { pct: number; label?: string }) {
  const v = Math.max(0, Math.min(100, pct || 0));
  return (
    <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(v)}>
      <div className="progress-fill" style={{ width: `${v}%` }} />
      <span className="progress-label">{label ?? `${Math.round(v)}%`}</span>
    </div>
  );
}

/** A task's status (pending running completed failed cancelled). */
export function TaskStatus({ status }: { status: string }) {
  const t = useT();
  if (status === 'pending' || status === 'running') return <>{t(`task.${status}`)}</>;
  if (status === 'completed' || status === 'failed' || status === 'cancelled') return <>{t(`status.${status}`)}</>;
  return <>{status}</>;
}
