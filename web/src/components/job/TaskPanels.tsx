// A task's debugging views (operator, job.debug): the pipelines its worker
// ran (launch line and shell command with copy buttons, the element chain,
// the Graphviz SVG with zoom) and its GStreamer log.

import { useQuery } from '@tanstack/react-query';
import { Copy, Download, X, ZoomIn, ZoomOut } from 'lucide-react';
import { useEffect, useState } from 'react';
import { api, ApiError, type Pipeline, type Task } from '../../api';
import { fetchBlob, fetchText, saveBlob, taskPath } from '../../api/detail';
import { useI18n } from '../../i18n';

// the log view shows the end of a long log; the whole file is a download
const LOG_TAIL_CHARS = 200_000;

function CopyButton({ text, testid }: { text: string; testid?: string }) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  return (
    <button
      className="button small-button"
      data-testid={testid}
      onClick={() => {
        const ok = () => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        };
        if (navigator.clipboard) navigator.clipboard.writeText(text).then(ok, () => undefined);
      }}
    >
      <Copy size={14} aria-hidden /> {done ? t('detail.copied') : t('detail.copy')}
    </button>
  );
}

function Graph({ jobId, taskId, stage }: { jobId: string; taskId: string; stage: string }) {
  const { t } = useI18n();
  const [zoom, setZoom] = useState(1);
  const [url, setUrl] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    let made: string | null = null;
    // an <img> of a blob: the SVG's text never becomes part of the page
    fetchBlob(`${taskPath(jobId, taskId)}/pipeline?format=svg&stage=${encodeURIComponent(stage)}`, ac.signal).then(
      (b) => {
        made = URL.createObjectURL(new Blob([b], { type: 'image/svg+xml' }));
        setUrl(made);
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setErr(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
      },
    );
    return () => {
      ac.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [jobId, taskId, stage]);
  if (err) return <p className="muted small">{t('detail.pipeline.noGraph', { message: err })}</p>;
  if (!url) return <p className="muted small">{t('common.loading')}</p>;
  return (
    <div className="graph">
      <div className="graph-tools">
        <button className="icon-button" onClick={() => setZoom((z) => Math.max(0.25, z / 1.25))} aria-label={t('detail.pipeline.zoomOut')}>
          <ZoomOut size={16} aria-hidden />
        </button>
        <span className="small mono">{Math.round(zoom * 100)}%</span>
        <button className="icon-button" onClick={() => setZoom((z) => Math.min(8, z * 1.25))} aria-label={t('detail.pipeline.zoomIn')}>
          <ZoomIn size={16} aria-hidden />
        </button>
      </div>
      <div className="graph-view" data-testid="pipeline-graph">
        <img src={url} alt={t('detail.pipeline.graphAlt', { stage })} style={{ width: `${zoom * 100}%` }} />
      </div>
    </div>
  );
}

function PipelineBlock({ jobId, taskId, p }: { jobId: string; taskId: string; p: Pipeline }) {
  const { t } = useI18n();
  const [graph, setGraph] = useState(false);
  return (
    <div className="pipeline">
      <div className="pipeline-stage">{p.stage}</div>
      <div className="pipeline-flow">
        {p.launch.split(' ! ').map((el, i) => (
          <span key={i} className="element" title={el}>
            {el.split(' ')[0]}
          </span>
        ))}
      </div>
      <div className="code-head">
        <span className="muted small">{t('detail.pipeline.launch')}</span>
        <CopyButton text={p.launch} testid="pipeline-copy" />
      </div>
      <pre className="mono small code" data-testid="pipeline-launch">{p.launch}</pre>
      <div className="code-head">
        <span className="muted small">{t('detail.pipeline.command')}</span>
        <CopyButton text={p.command} />
      </div>
      <pre className="mono small code">{p.command}</pre>
      {p.has_graph && (
        <button className="button" onClick={() => setGraph((g) => !g)} aria-pressed={graph} data-testid="pipeline-graph-toggle">
          {t(graph ? 'detail.pipeline.hideGraph' : 'detail.pipeline.showGraph')}
        </button>
      )}
      {graph && <Graph jobId={jobId} taskId={taskId} stage={p.stage} />}
    </div>
  );
}

export function PipelineView({ jobId, task, onClose }: { jobId: string; task: Task; onClose: () => void }) {
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['pipeline', jobId, task.id, task.attempt_count], queryFn: () => api.pipeline(jobId, task.id), retry: false });
  return (
    <section className="panel" aria-label={t('job.pipeline')}>
      <div className="panel-head">
        <h3>{t('detail.pipeline.title', { n: task.sequence_index, kind: task.kind })}</h3>
        <button className="icon-button" onClick={onClose} aria-label={t('detail.close')}>
          <X size={16} aria-hidden />
        </button>
      </div>
      {q.isPending ? (
        <p className="muted">{t('common.loading')}</p>
      ) : q.error ? (
        <p className="muted">{t('job.noPipeline')}</p>
      ) : (
        <div className="pipelines" data-testid="pipeline">
          {q.data.pipelines.map((p) => (
            <PipelineBlock key={p.stage} jobId={jobId} taskId={task.id} p={p} />
          ))}
        </div>
      )}
    </section>
  );
}

export function LogView({ jobId, task, onClose }: { jobId: string; task: Task; onClose: () => void }) {
  const { t } = useI18n();
  const url = `${taskPath(jobId, task.id)}/logs`;
  const q = useQuery({ queryKey: ['task-log', jobId, task.id, task.attempt_count], queryFn: () => fetchText(url), retry: false });
  const text = q.data ?? '';
  return (
    <section className="panel" aria-label={t('detail.logs.title', { n: task.sequence_index, kind: task.kind })}>
      <div className="panel-head">
        <h3>{t('detail.logs.title', { n: task.sequence_index, kind: task.kind })}</h3>
        {q.data != null && (
          <button
            className="button small-button"
            onClick={() => saveBlob(new Blob([text], { type: 'text/plain' }), `${task.id}-${task.attempt_count}.log`)}
            data-testid="log-download"
          >
            <Download size={14} aria-hidden /> {t('job.download')}
          </button>
        )}
        <button className="icon-button" onClick={onClose} aria-label={t('detail.close')}>
          <X size={16} aria-hidden />
        </button>
      </div>
      {q.isPending ? (
        <p className="muted">{t('common.loading')}</p>
      ) : q.error ? (
        <p className="muted" data-testid="log-missing">
          {q.error instanceof ApiError && q.error.status === 404 ? t('detail.logs.none') : String(q.error)}
        </p>
      ) : (
        <>
          {text.length > LOG_TAIL_CHARS && <p className="muted small">{t('detail.logs.truncated')}</p>}
          <pre className="mono small code log" data-testid="task-log">
            {text.length > LOG_TAIL_CHARS ? text.slice(-LOG_TAIL_CHARS) : text}
          </pre>
        </>
      )}
    </section>
  );
}
