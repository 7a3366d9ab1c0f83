// One worker (spec §19.3 /workers/[id]): health, capabilities in full, the
// tasks it runs (linked to their jobs), resource mini-charts when the worker
// reports `resources`, and the admin actions. Live from `worker:<id>`.

import { useQuery } from '@tanstack/react-query';
import { ArrowLeft, Cpu, HeartPulse, ListChecks } from 'lucide-react';
import { useEffect } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api';
import { ops, type Worker } from '../api/ops';
import { useTopic } from '../api/ws';
import { ALERT_PCT, MetricChart } from '../components/charts/MetricChart';
import { formatBytes, formatDate, formatDuration, shortId } from '../components/format';
import { record, useSeries } from '../components/ops/metrics';
import { WorkerActions, WorkerStatusBadge } from '../components/ops/workers';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';
import '../styles/ops.css';

/** Which job each running task belongs to: the active jobs' task lists. */
function useTaskJobs(taskIds: string[]): Record<string, string> {
  const key = [...taskIds].sort().join(',');
  const q = useQuery({
    queryKey: ['worker-task-jobs', key],
    enabled: taskIds.length > 0,
    staleTime: 30_000,
    queryFn: async () => {
      const found: Record<string, string> = {};
      const jobs = await api.jobs({ status: 'processing', limit: 50, offset: 0 });
      for (const job of jobs.jobs) {
        if (taskIds.every((id) => found[id])) break;
        const { tasks } = await api.tasks(job.id);
        for (const task of tasks) if (taskIds.includes(task.id)) found[task.id] = job.id;
      }
      return found;
    },
  });
  return q.data ?? {};
}

function List({ items }: { items?: string[] | null }) {
  if (!items?.length) return <>–</>;
  return (
    <span className="chips">
      {items.map((c) => (
        <span key={c} className="chip">
          {c}
        </span>
      ))}
    </span>
  );
}

export function WorkerDetail() {
  const { id = '' } = useParams();
  const { t, locale } = useI18n();
  const navigate = useNavigate();
  const rest = useQuery({ queryKey: ['workers', id], queryFn: () => ops.worker(id) });
  const live = useTopic<Worker>(id ? `worker:${id}` : null);
  const w = live?.id === id ? live : rest.data;
  const series = useSeries(`worker:${id}`);
  const taskJobs = useTaskJobs(w?.task_ids ?? []);

  useEffect(() => {
    if (live?.id === id && live.resources)
      record(`worker:${id}`, live, { t: Date.now(), cpu: live.resources.cpu_pct, mem: live.resources.mem_pct });
  }, [live, id]);

  if (!w) {
    return (
      <div className="page">
        <Link to="/workers" className="back">
          <ArrowLeft size={16} aria-hidden /> {t('workers.back')}
        </Link>
        {rest.isError ? <QueryError error={rest.error} retry={() => void rest.refetch()} /> : <p className="muted">{t('common.loading')}</p>}
      </div>
    );
  }

  const c = w.capabilities;
  const uptime = w.started_at ? (Date.now() - Date.parse(w.started_at)) / 1000 : null;
  const cpu = w.resources?.cpu_pct;
  const mem = w.resources?.mem_pct;
  return (
    <div className="page" data-testid="worker-detail" data-worker-id={w.id} data-status={w.status}>
      <Link to="/workers" className="back">
        <ArrowLeft size={16} aria-hidden /> {t('workers.back')}
      </Link>
      <div className="page-head">
        <h1 className="mono">{w.id}</h1>
        <WorkerStatusBadge worker={w} />
        <span className="spacer" />
        <WorkerActions worker={w} onRemoved={() => navigate('/workers')} />
      </div>

      <div className="ops-two">
        <section className="card">
          <h2>
            <HeartPulse size={18} aria-hidden /> {t('workers.health')}
          </h2>
          <dl className="facts">
            <dt>{t('workers.col.status')}</dt>
            <dd data-testid="worker-state">
              {w.status}
              {w.state && w.state !== w.status ? ` (${w.state})` : ''}
            </dd>
            <dt>{t('workers.col.heartbeat')}</dt>
            <dd>{formatDate(w.last_heartbeat, locale)}</dd>
            <dt>{t('workers.uptime')}</dt>
            <dd data-testid="worker-uptime">{formatDuration(uptime)}</dd>
            <dt>{t('workers.startedAt')}</dt>
            <dd>{formatDate(w.started_at, locale)}</dd>
            <dt>{t('workers.restarts')}</dt>
            <dd>{w.restarts ?? '–'}</dd>
            <dt>{t('workers.pid')}</dt>
            <dd className="mono">{w.pid ?? '–'}</dd>
            <dt>{t('workers.version')}</dt>
            <dd>{w.version ?? '–'}</dd>
            <dt>{t('workers.registeredAt')}</dt>
            <dd>{formatDate(w.registered_at, locale)}</dd>
            <dt>{t('workers.slots')}</dt>
            <dd>
              {t('workers.slotsFree', { free: w.slots_free ?? 0, total: w.slots_total ?? 0 })}
            </dd>
          </dl>
        </section>

        <section className="card" data-testid="worker-capabilities">
          <h2>
            <Cpu size={18} aria-hidden /> {t('workers.capabilities')}
          </h2>
          {!c ? (
            <p className="muted">{t('workers.noHello')}</p>
          ) : (
            <dl className="facts">
              <dt>{t('workers.videoCodecs')}</dt>
              <dd data-testid="cap-video">
                <List items={c.video_codecs} />
              </dd>
              <dt>{t('workers.audioCodecs')}</dt>
              <dd data-testid="cap-audio">
                <List items={c.audio_codecs} />
              </dd>
              <dt>{t('workers.hwEncoders')}</dt>
              <dd data-testid="cap-hw">
                {c.hw_encoders?.length ? (
                  <List items={c.hw_encoders.map((h) => [h.element, h.codec, h.gpu_type].filter(Boolean).join(' · '))} />
                ) : (
                  t('workers.none')
                )}
              </dd>
              <dt>{t('workers.gpu')}</dt>
              <dd>{c.gpu_accelerated ? c.gpu_type ?? t('workers.yes') : t('workers.no')}</dd>
              <dt>{t('workers.cores')}</dt>
              <dd data-testid="cap-cores">{c.cores ?? '–'}</dd>
              <dt>{t('workers.memory')}</dt>
              <dd>{formatBytes(c.memory_bytes, locale)}</dd>
              <dt>{t('workers.col.host')}</dt>
              <dd>{c.hostname ?? w.hostname ?? '–'}</dd>
              <dt>{t('workers.ip')}</dt>
              <dd className="mono">{c.ip_address ?? w.ip_address ?? '–'}</dd>
              <dt>{t('workers.maxParallel')}</dt>
              <dd>{c.max_parallel_tasks ?? '–'}</dd>
            </dl>
          )}
        </section>
      </div>

      <section className="card">
        <h2>
          <ListChecks size={18} aria-hidden /> {t('workers.currentTasks')}
        </h2>
        {!w.task_ids?.length ? (
          <p className="muted" data-testid="worker-no-tasks">
            {t('workers.noTasks')}
          </p>
        ) : (
          <ul className="ops-tasks" data-testid="worker-task-list">
            {w.task_ids.map((task) => (
              <li key={task} className="mono">
                {taskJobs[task] ? (
                  <Link to={`/jobs/${taskJobs[task]}`}>{t('workers.taskOfJob', { task: shortId(task), job: shortId(taskJobs[task]) })}</Link>
                ) : (
                  shortId(task)
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      {w.resources && (
        <section className="card">
          <h2>{t('charts.title')}</h2>
          <div className="chart-grid">
            <MetricChart
              title={t('charts.cpu')}
              value={cpu != null ? `${Math.round(cpu)} %` : '–'}
              alert={cpu != null && cpu > ALERT_PCT}
              data={series}
              lines={[{ key: 'cpu', label: t('charts.cpu'), color: '#2f6fed' }]}
              max={100}
              alertAt={ALERT_PCT}
              locale={locale}
              empty={t('charts.noData')}
              testid="worker-chart-cpu"
              compact
            />
            <MetricChart
              title={t('charts.memory')}
              value={mem != null ? `${Math.round(mem)} %` : '–'}
              alert={mem != null && mem > ALERT_PCT}
              data={series}
              lines={[{ key: 'mem', label: t('charts.memory'), color: '#8b5cf6' }]}
              max={100}
              alertAt={ALERT_PCT}
              locale={locale}
              empty={t('charts.noData')}
              testid="worker-chart-mem"
              compact
            />
          </div>
        </section>
      )}
    </div>
  );
}
