import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowLeft, Ban, RotateCcw, Trash2, X } from 'lucide-react';
import { lazy, Suspense, useEffect, useRef, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError, FINISHED, type Job, type JobStatus, type Task } from '../api';
import { detailApi } from '../api/detail';
import { useTopic } from '../api/ws';
import { Can } from '../auth/Can';
import { formatDate, formatDuration } from '../components/format';
import { Artifacts } from '../components/job/Artifacts';
import { LogView, PipelineView } from '../components/job/TaskPanels';
import { TasksTable, type TaskPanel } from '../components/job/TasksTable';
import { taskSpans } from '../components/job/taskTimes';
import { Timeline } from '../components/job/Timeline';
import { QueryError } from '../components/QueryError';
import { ProgressBar, StatusBadge } from '../components/Status';
import { useI18n } from '../i18n';
import '../styles/detail.css';

// the player and its libraries load only when a finished job has something
// to play: hls.js and dash.js are chunks of their own below that
const Player = lazy(() => import('../components/player/Player'));

interface Toast {
  kind: 'ok' | 'error';
  text: string;
  code?: string;
}

function errorToast(e: unknown): Toast {
  if (e instanceof ApiError)
    return { kind: 'error', text: e.details ? `${e.message}: ${e.details}` : e.message, code: e.code };
  return { kind: 'error', text: e instanceof Error ? e.message : String(e) };
}

export function JobDetail() {
  const { id = '' } = useParams();
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const [panel, setPanel] = useState<TaskPanel>(null);
  const [toast, setToast] = useState<Toast | null>(null);
  const [busyTask, setBusyTask] = useState<string | null>(null);
  // when this page saw each status live (stitching and uploading have no
  // events of their own)
  const [seen, setSeen] = useState<Partial<Record<JobStatus, string>>>({});

  const jobQ = useQuery({ queryKey: ['job', id], queryFn: () => api.job(id) });
  const liveJob = useTopic<Job>(`job:${id}`);
  // the live event wins when it is at least as new as the fetched job
  const job =
    liveJob && (!jobQ.data || (liveJob.updated_at ?? '') >= (jobQ.data.updated_at ?? '')) ? liveJob : jobQ.data;
  const finished = job ? FINISHED.has(job.status) : false;

  const lastStatus = useRef<string | null>(null);
  useEffect(() => {
    lastStatus.current = null;
    setSeen({});
    setPanel(null);
    // a job retried from its predecessor's page says so
    setToast((location.state as { toast?: Toast } | null)?.toast ?? null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  useEffect(() => {
    if (!job || job.id !== id || lastStatus.current === job.status) return;
    lastStatus.current = job.status;
    const at = job.updated_at ?? new Date().toISOString();
    setSeen((s) => (s[job.status] ? s : { ...s, [job.status]: at }));
  }, [job, id]);

  const tasksQ = useQuery({
    queryKey: ['tasks', id],
    queryFn: () => api.tasks(id),
    enabled: !!job,
    // tasks have no topic of their own: poll while the job runs
    refetchInterval: finished ? false : 2000,
  });
  const eventsQ = useQuery({
    queryKey: ['events', id],
    queryFn: () => detailApi.events(id),
    enabled: !!job,
    refetchInterval: finished ? false : 2000,
  });
  const outputsQ = useQuery({
    queryKey: ['outputs', id, job?.status],
    queryFn: () => api.outputs(id),
    enabled: job?.status === 'completed',
  });

  // one last refresh when the job finishes
  useEffect(() => {
    if (!finished) return;
    void qc.invalidateQueries({ queryKey: ['tasks', id] });
    void qc.invalidateQueries({ queryKey: ['events', id] });
  }, [finished, id, qc]);

  const cancel = useMutation({
    mutationFn: () => api.cancel(id),
    onSuccess: (j) => qc.setQueryData(['job', id], j),
    onError: (e) => setToast(errorToast(e)),
  });
  const retry = useMutation({
    mutationFn: () => api.retry(id),
    onSuccess: (j) => {
      navigate(`/jobs/${j.id}`, { state: { toast: { kind: 'ok', text: t('job.retried', { id: j.id }) } } });
    },
    onError: (e) => setToast(errorToast(e)),
  });
  const remove = useMutation({
    mutationFn: () => detailApi.remove(id),
    onSuccess: () => {
      qc.removeQueries({ queryKey: ['job', id] });
      void qc.invalidateQueries({ queryKey: ['jobs'] });
      navigate('/jobs');
    },
    onError: (e) => setToast(errorToast(e)),
  });
  const taskRetry = useMutation({
    mutationFn: ({ task, requeue }: { task: Task; requeue: boolean }) => detailApi.retryTask(id, task.id, requeue),
    onMutate: ({ task }) => setBusyTask(task.id),
    onSettled: () => setBusyTask(null),
    onSuccess: (r, { requeue }) => {
      setToast({
        kind: 'ok',
        text: t(requeue ? 'detail.tasks.requeued' : 'detail.tasks.retried', { n: r.task.sequence_index }),
      });
      qc.setQueryData(['job', id], r.job);
      void qc.invalidateQueries({ queryKey: ['tasks', id] });
      void qc.invalidateQueries({ queryKey: ['events', id] });
    },
    onError: (e) => setToast(errorToast(e)),
  });

  if (jobQ.error) return <QueryError error={jobQ.error} retry={() => void jobQ.refetch()} />;
  if (!job) return <p className="muted">{t('common.loading')}</p>;

  const tasks = tasksQ.data?.tasks ?? [];
  const events = eventsQ.data?.events ?? [];
  const panelTask = panel ? tasks.find((x) => x.id === panel.taskId) : undefined;
  const outputs = outputsQ.data?.outputs ?? [];
  return (
    <div className="page job-page" data-testid="job-detail" data-job-id={job.id} data-status={job.status}>
      <Link to="/jobs" className="back">
        <ArrowLeft size={16} aria-hidden /> {t('job.back')}
      </Link>
      <div className="page-head">
        <h1 className="ellipsis">{t('job.title', { id: job.id })}</h1>
        <StatusBadge status={job.status} />
        <span className="spacer" />
        <Can action="job.cancel">
          {!finished && (
            <button
              className="button danger"
              onClick={() => window.confirm(t('job.cancelConfirm')) && cancel.mutate()}
              disabled={cancel.isPending}
              data-testid="job-cancel"
            >
              <Ban size={16} aria-hidden /> {t('job.cancel')}
            </button>
          )}
        </Can>
        <Can action="job.retry">
          <button className="button" onClick={() => retry.mutate()} disabled={retry.isPending} data-testid="job-retry">
            <RotateCcw size={16} aria-hidden /> {t('job.retry')}
          </button>
        </Can>
        <Can action="job.delete">
          <button
            className="button danger"
            onClick={() => window.confirm(t('detail.deleteConfirm')) && remove.mutate()}
            disabled={remove.isPending}
            data-testid="job-delete"
          >
            <Trash2 size={16} aria-hidden /> {t('detail.delete')}
          </button>
        </Can>
      </div>
      {toast && (
        <div className={`toast ${toast.kind}`} role={toast.kind === 'error' ? 'alert' : 'status'} data-testid="toast" data-kind={toast.kind} data-code={toast.code ?? ''}>
          <span>
            {toast.code && <span className="mono">{toast.code} </span>}
            {toast.text}
          </span>
          <button className="icon-button" onClick={() => setToast(null)} aria-label={t('detail.close')}>
            <X size={14} aria-hidden />
          </button>
        </div>
      )}
      <section className="card">
        <ProgressBar
          pct={job.progress_pct}
          label={`${Math.round(job.progress_pct)}%${
            job.status === 'processing' && job.eta_seconds != null
              ? ` · ${t('job.eta', { eta: formatDuration(job.eta_seconds) })}`
              : ''
          }${job.status === 'processing' && job.speed ? ` · ${t('job.speed', { speed: job.speed.toFixed(1) })}` : ''}`}
        />
        {job.error_code && (
          <div className="alert" role="alert" data-testid="job-error" data-code={job.error_code}>
            {t('job.error', { code: job.error_code, message: job.error_message ?? '' })}
          </div>
        )}
        <dl className="facts">
          <dt>{t('job.source')}</dt>
          <dd className="mono ellipsis" title={job.source_url}>
            {job.source_url}
          </dd>
          <dt>{t('job.profile')}</dt>
          <dd>{job.profile}</dd>
          <dt>{t('job.created')}</dt>
          <dd>{formatDate(job.created_at, locale)}</dd>
          <dt>{t('job.finished')}</dt>
          <dd>{formatDate(job.finished_at, locale)}</dd>
          {job.retry_of && (
            <>
              <dt>{t('detail.retryOf')}</dt>
              <dd className="mono ellipsis">
                <Link to={`/jobs/${job.retry_of}`}>{job.retry_of}</Link>
              </dd>
            </>
          )}
        </dl>
      </section>
      {job.status === 'completed' && outputs.length > 0 && (
        <section className="card">
          <h2>{t('detail.player.title')}</h2>
          <Suspense fallback={<p className="muted">{t('common.loading')}</p>}>
            <Player jobId={job.id} outputs={outputs} />
          </Suspense>
        </section>
      )}
      <section className="card">
        <h2>{t('detail.timeline.title')}</h2>
        {eventsQ.error ? <QueryError error={eventsQ.error} /> : <Timeline status={job.status} events={events} seen={seen} />}
      </section>
      <section className="card">
        <h2>{t('job.tasks')}</h2>
        {tasksQ.error ? (
          <QueryError error={tasksQ.error} />
        ) : (
          <TasksTable
            tasks={tasks}
            jobStatus={job.status}
            spans={taskSpans(events)}
            panel={panel}
            setPanel={setPanel}
            onRetry={(task, requeue) => taskRetry.mutate({ task, requeue })}
            busyTask={busyTask}
          />
        )}
        {panel && panelTask && panel.kind === 'pipeline' && (
          <PipelineView jobId={job.id} task={panelTask} onClose={() => setPanel(null)} />
        )}
        {panel && panelTask && panel.kind === 'logs' && <LogView jobId={job.id} task={panelTask} onClose={() => setPanel(null)} />}
      </section>
      <section className="card">
        <h2>{t('job.outputs')}</h2>
        {outputs.length === 0 ? (
          <p className="muted">{t('job.noOutputs')}</p>
        ) : (
          <Artifacts jobId={job.id} outputs={outputs} onError={(e) => setToast(errorToast(e))} />
        )}
      </section>
    </div>
  );
}
