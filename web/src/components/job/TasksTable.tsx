// The job's tasks with their media time range, worker, output size,
// attempts and wall time, and per-task actions by role: the log and the
// pipelines (operator, job.debug), Retry for a failed or cancelled task and
// Requeue for a completed task of a running job (operator, job.retry).

import { FileText, RefreshCw, RotateCcw, Workflow } from 'lucide-react';
import { FINISHED, type JobStatus, type Task } from '../../api';
import { useCan } from '../../auth/Can';
import { useI18n } from '../../i18n';
import { formatBytes, formatDuration } from '../format';
import { ProgressBar, TaskStatus } from '../Status';
import type { TaskSpan } from './taskTimes';

export type TaskPanel = { kind: 'logs' | 'pipeline'; taskId: string } | null;

function range(task: Task): string {
  // whole-source tasks (scan, transcode, ladder) carry no range, or 0–0
  if (task.end_time_sec == null || task.end_time_sec <= (task.start_time_sec ?? 0)) return '–';
  return `${formatDuration(task.start_time_sec ?? 0)}–${formatDuration(task.end_time_sec)}`;
}

export function TasksTable({
  tasks,
  jobStatus,
  spans,
  panel,
  setPanel,
  onRetry,
  busyTask,
}: {
  tasks: Task[];
  jobStatus: JobStatus;
  spans: Map<number, TaskSpan>;
  panel: TaskPanel;
  setPanel: (p: TaskPanel) => void;
  onRetry: (task: Task, requeue: boolean) => void;
  busyTask: string | null;
}) {
  const { t, locale } = useI18n();
  const canDebug = useCan('job.debug');
  const canRetry = useCan('job.retry');
  const toggle = (kind: 'logs' | 'pipeline', taskId: string) =>
    setPanel(panel?.kind === kind && panel.taskId === taskId ? null : { kind, taskId });
  const now = Date.now();

  return (
    <div className="table-wrap">
      <table data-testid="tasks-table" className="tasks">
        <thead>
          <tr>
            <th>#</th>
            <th>{t('col.kind')}</th>
            <th className="hide-narrow">{t('detail.tasks.range')}</th>
            <th>{t('col.status')}</th>
            <th>{t('col.progress')}</th>
            <th className="hide-narrow">{t('col.worker')}</th>
            <th className="hide-narrow num">{t('detail.tasks.output')}</th>
            <th className="hide-narrow">{t('col.attempts')}</th>
            <th className="hide-narrow">{t('detail.tasks.duration')}</th>
            {(canDebug || canRetry) && <th>{t('detail.tasks.actions')}</th>}
          </tr>
        </thead>
        <tbody>
          {tasks.map((task) => {
            const span = spans.get(task.sequence_index);
            const wall = span ? ((span.end ?? (task.status === 'running' ? now : span.start)) - span.start) / 1000 : null;
            // what the API accepts: a completed or cancelled job is final
            // (its retry is a new job), a failed one reopens
            const retryable =
              (task.status === 'failed' || task.status === 'cancelled') && jobStatus !== 'completed' && jobStatus !== 'cancelled';
            const requeueable = task.status === 'completed' && !FINISHED.has(jobStatus);
            return (
              <tr key={task.id} data-task-id={task.id} data-task-index={task.sequence_index} data-task-kind={task.kind}>
                <td>{task.sequence_index}</td>
                <td>{task.kind}</td>
                <td className="hide-narrow mono small">{range(task)}</td>
                <td data-task-status={task.status} title={task.error_code ? `${task.error_code}: ${task.error_message ?? ''}` : undefined}>
                  <TaskStatus status={task.status} />
                  {task.error_code && <div className="mono small danger-text">{task.error_code}</div>}
                </td>
                <td>
                  <ProgressBar pct={task.progress_pct} />
                </td>
                <td className="hide-narrow">{task.assigned_worker_id ?? '–'}</td>
                <td className="hide-narrow num">{formatBytes(task.output_size_bytes, locale)}</td>
                <td className="hide-narrow">
                  {task.attempt_count}/{task.max_attempts}
                </td>
                <td className="hide-narrow">{wall != null ? formatDuration(wall) : '–'}</td>
                {(canDebug || canRetry) && (
                  <td>
                    <div className="row-actions">
                      {canRetry && retryable && (
                        <button
                          className="button small-button"
                          onClick={() => onRetry(task, false)}
                          disabled={busyTask === task.id}
                          data-testid="task-retry"
                        >
                          <RotateCcw size={14} aria-hidden /> {t('detail.tasks.retry')}
                        </button>
                      )}
                      {canRetry && requeueable && (
                        <button
                          className="button small-button"
                          onClick={() => onRetry(task, true)}
                          disabled={busyTask === task.id}
                          data-testid="task-requeue"
                        >
                          <RefreshCw size={14} aria-hidden /> {t('detail.tasks.requeue')}
                        </button>
                      )}
                      {canDebug && (
                        <button
                          className="icon-button"
                          title={t('detail.tasks.logs')}
                          aria-pressed={panel?.kind === 'logs' && panel.taskId === task.id}
                          onClick={() => toggle('logs', task.id)}
                          data-testid="task-logs"
                        >
                          <FileText size={16} aria-hidden />
                          <span className="sr-only">{t('detail.tasks.logs')}</span>
                        </button>
                      )}
                      {canDebug && (
                        <button
                          className="icon-button"
                          title={t('job.showPipeline')}
                          aria-pressed={panel?.kind === 'pipeline' && panel.taskId === task.id}
                          onClick={() => toggle('pipeline', task.id)}
                          data-testid="task-pipeline"
                        >
                          <Workflow size={16} aria-hidden />
                          <span className="sr-only">{t('job.showPipeline')}</span>
                        </button>
                      )}
                    </div>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
