import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowLeft, Ban, Download, RotateCcw, Workflow } from 'lucide-react';
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, download, FINISHED, type Job, type Task } from '../api';
import { useTopic } from '../api/ws';
import { Can } from '../auth/Can';
import { formatBytes, formatDate, formatDuration } from '../components/format';
import { QueryError } from '../components/QueryError';
import { ProgressBar, StatusBadge, TaskStatus } from '../components/Status';
import { reportError } from '../errors/tracker';
import { useI18n } from '../i18n';

// same-origin path: download_url is built from the service's public_url,
// which need not be the address this browser reached it at
function outputPath(jobId: string, name: string): string {
  return `/v1/jobs/${encodeURIComponent(jobId)}/outputs/${name.split('/').map(encodeURIComponent).join('/')}`;
}

function PipelineView({ jobId, task }: { jobId: string; task: Task }) {
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['pipeline', jobId, task.id, task.attempt_count], queryFn: () => api.pipeline(jobId, task.id), retry: false });
  if (q.isPending) return <p className="muted">{t('common.loading')}</p>;
  if (q.error) return <p className="muted">{t('job.noPipeline')}</p>;
  return (
    <div className="pipelines" data-testid="pipeline">
      {q.data.pipelines.map((p) => (
        <div key={p.stage} className="pipeline">
          <div className="pipeline-stage">{p.stage}</div>
          <div className="pipeline-flow">
            {p.launch.split(' ! ').map((el, i) => (
              <span key={i} className="element" title={el}>
                {el.split(' ')[0]}
              </span>
            ))}
          </div>
          <pre className="mono small">{p.command}</pre>
        </div>
      ))}
    </div>
  );
}

export function JobDetail() {
  const { id = '' } = useParams();
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [pipelineTask, setPipelineTask] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const jobQ = useQuery({ queryKey: ['job', id], queryFn: () => api.job(id) });
  const liveJob = useTopic<Job>(`job:${id}`);
  // the live event wins when it is at least as new as the fetched job
  const job =
    liveJob && (!jobQ.data || (liveJob.updated_at ?? '') >= (jobQ.data.updated_at ?? '')) ? liveJob : jobQ.data;
  const finished = job ? FINISHED.has(job.status) : false;

  const tasksQ = useQuery({
    queryKey: ['tasks', id],
    queryFn: () => api.tasks(id),
    enabled: !!job,
    // tasks have no topic of their own: poll while the job runs
    refetchInterval: finished ? false : 2000,
  });
  const outputsQ = useQuery({
    queryKey: ['outputs', id, job?.status],
    queryFn: () => api.outputs(id),
    enabled: job?.status === 'completed',
  });

  // one last task refresh when the job finishes
  useEffect(() => {
    if (finished) void qc.invalidateQueries({ queryKey: ['tasks', id] });
  }, [finished, id, qc]);

  const cancel = useMutation({
    mutationFn: () => api.cancel(id),
    onSuccess: (j) => qc.setQueryData(['job', id], j),
  });
  const retry = useMutation({
    mutationFn: () => api.retry(id),
    onSuccess: (j) => {
      setNotice(t('job.retried', { id: j.id }));
      navigate(`/jobs/${j.id}`);
    },
  });

  if (jobQ.error) return <QueryError error={jobQ.error} retry={() => void jobQ.refetch()} />;
  if (!job) return <p className="muted">{t('common.loading')}</p>;

  const mutationError = cancel.error ?? retry.error;
  return (
    <div className="page" data-testid="job-detail" data-job-id={job.id} data-status={job.status}>
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
      </div>
      {notice && <div className="notice">{notice}</div>}
      {mutationError && <QueryError error={mutationError} />}
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
          <div className="alert" role="alert">
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
        </dl>
      </section>
      <section className="card">
        <h2>{t('job.tasks')}</h2>
        {tasksQ.error ? (
          <QueryError error={tasksQ.error} />
        ) : (
          <div className="table-wrap">
            <table data-testid="tasks-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>{t('col.kind')}</th>
                  <th>{t('col.status')}</th>
                  <th>{t('col.progress')}</th>
                  <th className="hide-narrow">{t('col.worker')}</th>
                  <th className="hide-narrow">{t('col.attempts')}</th>
                  <Can action="job.debug">
                    <th>{t('job.pipeline')}</th>
                  </Can>
                </tr>
              </thead>
              <tbody>
                {(tasksQ.data?.tasks ?? []).map((task) => (
                  <tr key={task.id} data-task-id={task.id}>
                    <td>{task.sequence_index}</td>
                    <td>{task.kind}</td>
                    <td data-task-status={task.status}>
                      <TaskStatus status={task.status} />
                    </td>
                    <td>
                      <ProgressBar pct={task.progress_pct} />
                    </td>
                    <td className="hide-narrow">{task.assigned_worker_id ?? '–'}</td>
                    <td className="hide-narrow">
                      {task.attempt_count}/{task.max_attempts}
                    </td>
                    <Can action="job.debug">
                      <td>
                        <button
                          className="icon-button"
                          title={t('job.showPipeline')}
                          aria-pressed={pipelineTask === task.id}
                          onClick={() => setPipelineTask((p) => (p === task.id ? null : task.id))}
                        >
                          <Workflow size={16} aria-hidden />
                          <span className="sr-only">{t('job.showPipeline')}</span>
                        </button>
                      </td>
                    </Can>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {pipelineTask && tasksQ.data && (
          <PipelineView jobId={job.id} task={tasksQ.data.tasks.find((x) => x.id === pipelineTask) ?? tasksQ.data.tasks[0]!} />
        )}
      </section>
      <section className="card">
        <h2>{t('job.outputs')}</h2>
        {!outputsQ.data || outputsQ.data.outputs.length === 0 ? (
          <p className="muted">{t('job.noOutputs')}</p>
        ) : (
          <div className="table-wrap">
            <table data-testid="outputs-table">
              <thead>
                <tr>
                  <th>{t('col.name')}</th>
                  <th className="hide-narrow">{t('col.type')}</th>
                  <th>{t('col.size')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {outputsQ.data.outputs.map((o) => (
                  <tr key={o.name}>
                    <td className="mono ellipsis">{o.name}</td>
                    <td className="hide-narrow">{o.type}</td>
                    <td>{formatBytes(o.size_bytes, locale)}</td>
                    <td>
                      <button
                        className="icon-button"
                        title={t('job.download')}
                        onClick={() => download(outputPath(job.id, o.name), o.name).catch((e: unknown) => reportError(e, 'warning'))}
                        data-testid="output-download"
                      >
                        <Download size={16} aria-hidden />
                        <span className="sr-only">{t('job.download')}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
