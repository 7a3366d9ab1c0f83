// One restream: its details, Start/Stop, Delete, and the destinations with
// their live state, bitrate, uptime, reconnects and last error, an enable
// toggle, remove and an "add destination" dialog. The WebSocket topic
// restream:<id> updates status and figures as they change; a GET every
// 2 s covers a socket that is down (or a server without the topic).

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ChevronLeft, Plus, Trash2 } from 'lucide-react';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import {
  cronSummary,
  destStats,
  inputKind,
  PLATFORMS,
  restreams,
  type Destination,
  type DestStats,
  type Restream,
  type RestreamIngest,
  type RestreamStatus,
} from '../api/restreams';
import { useTopicEvents } from '../api/ws';
import { useCan } from '../auth/Can';
import { formatDate, formatDuration } from '../components/format';
import { ConfirmDialog, Dialog } from '../components/ops/Dialog';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { CopyField } from '../components/streams/CopyField';
import { type MessageKey, useI18n } from '../i18n';
import { DestStateBadge, RestreamStatusBadge, StartStop } from './RestreamParts';
import '../styles/ops.css';
import '../styles/restreams.css';

interface RestreamEvent {
  type?: string;
  status?: RestreamStatus;
  error?: string | null;
  destinations?: Record<string, DestStats>;
}

export function RestreamDetail() {
  const { id = '' } = useParams();
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  // an own ingest's key from the creating answer: kept in this page's
  // memory and taken out of the history entry, so a reload or Back never
  // shows it again
  const [freshIngest] = useState(() => (location.state as { ingest?: RestreamIngest } | null)?.ingest);
  useEffect(() => {
    if (freshIngest) navigate(location.pathname, { replace: true, state: null });
  }, [freshIngest, location.pathname, navigate]);
  const canDelete = useCan('restream.delete');
  const canUpdate = useCan('restream.update');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [removeDest, setRemoveDest] = useState<Destination | null>(null);
  const [adding, setAdding] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const key = ['restreams', 'one', id];
  const q = useQuery({ queryKey: key, queryFn: () => restreams.get(id), refetchInterval: 2000 });

  // live figures between the polls: status, error and each destination's stats
  const onEvent = useCallback(
    (data: unknown) => {
      const e = data as RestreamEvent;
      if (!e || e.type !== 'restream') return;
      qc.setQueryData<Restream>(['restreams', 'one', id], (r) =>
        r
          ? {
              ...r,
              status: e.status ?? r.status,
              error: e.error !== undefined ? e.error : r.error,
              current_stats: e.destinations ?? r.current_stats,
            }
          : r,
      );
    },
    [qc, id],
  );
  useTopicEvents(id ? `restream:${id}` : null, onEvent);

  const refresh = () => void qc.invalidateQueries({ queryKey: ['restreams'] });
  const del = useMutation({
    mutationFn: () => restreams.remove(id),
    onSuccess: () => {
      qc.removeQueries({ queryKey: key });
      void qc.invalidateQueries({ queryKey: ['restreams', 'list'] });
      navigate('/restreams');
    },
  });
  const toggle = useMutation({
    mutationFn: (v: { dest: string; enabled: boolean }) => restreams.setDestinationEnabled(id, v.dest, v.enabled),
    // the toggle follows the click at once; the next GET (or an error) corrects it
    onMutate: (v) => {
      setActionError(null);
      qc.setQueryData<Restream>(['restreams', 'one', id], (r) =>
        r
          ? {
              ...r,
              output_destinations: r.output_destinations.map((d) => (d.id === v.dest ? { ...d, enabled: v.enabled } : d)),
            }
          : r,
      );
    },
    onSettled: refresh,
    onError: setActionError,
  });
  const remove = useMutation({
    mutationFn: (dest: string) => restreams.removeDestination(id, dest),
    onSuccess: () => setRemoveDest(null),
    onSettled: refresh,
    onError: setActionError,
  });

  if (q.isError) return <QueryError error={q.error} retry={() => void q.refetch()} />;
  const r = q.data;
  if (!r) return <p className="muted">{t('common.loading')}</p>;
  const cfg = r.schedule_config;
  const kind = inputKind(r);
  const cron = cfg?.cron ? cronSummary(cfg.cron, t) : null;

  return (
    <div className="page restream-detail" data-testid="restream-detail" data-restream-id={r.id} data-status={r.status}>
      <Link to="/restreams" className="back">
        <ChevronLeft size={16} aria-hidden /> {t('restreams.back')}
      </Link>
      <div className="page-head">
        <h1 className="restream-break" data-testid="restream-title-text">
          {r.title}
        </h1>
        <RestreamStatusBadge status={r.status} />
        <span className="spacer" />
        <div className="restream-actions">
          <StartStop r={r} onError={setActionError} />
          {canDelete && (
            <button type="button" className="button danger" onClick={() => setConfirmDelete(true)} data-testid="restream-delete">
              <Trash2 size={14} aria-hidden /> {t('restreams.delete')}
            </button>
          )}
        </div>
      </div>
      <ApiErrorLine error={actionError} testid="restream-action-error" />

      <div className="card">
        <h2>{t('restreams.detail.info')}</h2>
        {r.description && <p className="restream-break">{r.description}</p>}
        <dl className="facts restream-facts">
          <dt>{t('restreams.detail.input')}</dt>
          <dd data-testid="info-input" data-kind={kind}>
            {t(`restreams.input.${kind}`)}
            {kind === 'ingest' && r.stream_id && (
              <>
                {': '}
                <Link to={`/streams/${r.stream_id}`} data-testid="info-ingest-stream">
                  {t('restreams.detail.ingestStream')}
                </Link>
              </>
            )}
            {kind === 'stream' && r.stream_id && (
              <>
                {': '}
                <Link to={`/streams/${r.stream_id}`}>{r.stream_id}</Link>
              </>
            )}
            {kind === 'vod_job' && r.vod_job_id && (
              <>
                {': '}
                <Link to={`/jobs/${r.vod_job_id}`} data-testid="info-job">
                  {r.vod_job_id}
                </Link>
                {r.input_url && (
                  <>
                    {' · '}
                    <code data-testid="info-job-output">{r.input_url}</code>
                  </>
                )}
              </>
            )}
            {kind === 'file' && r.input_url && (
              <>
                {': '}
                <code>{r.input_url}</code>
              </>
            )}
            {kind === 'playlist' && (
              <ol className="restream-playlist-list" data-testid="info-playlist">
                {r.playlist.map((item, i) => (
                  <li key={i}>
                    <code>{item}</code>
                  </li>
                ))}
              </ol>
            )}
          </dd>
          <dt>{t('restreams.detail.schedule')}</dt>
          <dd data-testid="info-schedule">
            {t(`restreams.schedule.${r.schedule_type}` as MessageKey)}
            {cfg?.at ? ` · ${formatDate(cfg.at, locale)}` : ''}
            {cfg?.cron && (
              <>
                {' · '}
                <span data-testid="info-cron-summary">{cron ?? t('restreams.form.cronUnknown')}</span> (<code>{cfg.cron}</code>)
              </>
            )}
            {cfg?.duration_s ? ` · ${t('restreams.detail.duration', { min: Math.round(cfg.duration_s / 60) })}` : ''}
          </dd>
          <dt>{t('restreams.detail.loop')}</dt>
          <dd data-testid="info-loop">{r.loop_enabled ? t('restreams.detail.on') : t('restreams.detail.off')}</dd>
          <dt>{t('restreams.detail.simulateLive')}</dt>
          <dd>{r.simulate_live ? t('restreams.detail.on') : t('restreams.detail.off')}</dd>
          <dt>{t('restreams.detail.created')}</dt>
          <dd>{formatDate(r.created_at, locale)}</dd>
          {r.error && (
            <>
              <dt>{t('restreams.detail.error')}</dt>
              <dd className="restream-error" data-testid="info-error">
                {r.error}
              </dd>
            </>
          )}
        </dl>
      </div>

      {kind === 'ingest' && r.ingest && (
        <IngestSettings ingest={r.ingest} fresh={freshIngest} />
      )}

      <div className="card">
        <div className="page-head">
          <h2>{t('restreams.detail.destinations')}</h2>
          <span className="spacer" />
          {canUpdate && (
            <button type="button" className="button" onClick={() => setAdding(true)} data-testid="dest-add">
              <Plus size={14} aria-hidden /> {t('restreams.dest.add')}
            </button>
          )}
        </div>
        <div className="table-wrap">
          <table className="table" data-testid="dest-table">
            <thead>
              <tr>
                <th>{t('restreams.dest.platform')}</th>
                <th>{t('restreams.dest.url')}</th>
                <th>{t('restreams.dest.state')}</th>
                <th>{t('restreams.dest.bitrate')}</th>
                <th>{t('restreams.dest.uptime')}</th>
                <th>{t('restreams.dest.reconnects')}</th>
                <th>{t('restreams.dest.lastError')}</th>
                <th>{t('restreams.dest.enabled')}</th>
                {canUpdate && <th aria-label={t('restreams.dest.remove')} />}
              </tr>
            </thead>
            <tbody>
              {r.output_destinations.map((d) => {
                const s = destStats(r, d);
                const running = r.status === 'starting' || r.status === 'streaming';
                // running but no figures from the worker yet: it is connecting
                const state = !d.enabled ? s.state : running ? (s.state ?? 'connecting') : undefined;
                // a disabled or stopped destination sends nothing: its last figures would mislead
                const active = running && d.enabled;
                const kbps = active && s.bitrate_kbps != null ? s.bitrate_kbps : null;
                return (
                  <tr key={d.id} data-dest-id={d.id} data-state={state ?? 'idle'} data-bitrate={kbps ?? 0}>
                    <td>{PLATFORMS.includes(d.platform as never) ? t(`restreams.platform.${d.platform}` as MessageKey) : d.platform}</td>
                    <td>
                      <code className="restream-break restream-dest-url-code" data-testid="dest-url">
                        {d.url}
                      </code>
                    </td>
                    <td>
                      <DestStateBadge state={state} />
                    </td>
                    <td data-testid="dest-bitrate">{kbps != null ? t('restreams.dest.kbps', { n: kbps.toFixed(0) }) : '–'}</td>
                    <td>{active && s.uptime_s != null ? formatDuration(s.uptime_s) : '–'}</td>
                    <td>{s.reconnects ?? 0}</td>
                    <td className="restream-error restream-break" data-testid="dest-error">
                      {s.last_error ?? ''}
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        checked={d.enabled}
                        disabled={!canUpdate || toggle.isPending}
                        onChange={(e) => toggle.mutate({ dest: d.id, enabled: e.target.checked })}
                        aria-label={t('restreams.dest.enabled')}
                        data-testid="dest-enabled"
                      />
                    </td>
                    {canUpdate && (
                      <td>
                        <button
                          type="button"
                          className="icon-button"
                          onClick={() => setRemoveDest(d)}
                          aria-label={t('restreams.dest.remove')}
                          title={t('restreams.dest.remove')}
                          data-testid="dest-remove"
                        >
                          <Trash2 size={16} aria-hidden />
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
              {r.output_destinations.length === 0 && (
                <tr>
                  <td colSpan={9} className="muted">
                    {t('restreams.detail.noDestinations')}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </div>

      {confirmDelete && (
        <ConfirmDialog
          title={t('restreams.delete')}
          message={t('restreams.deleteConfirm', { title: r.title })}
          confirmLabel={t('restreams.delete')}
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate()}
          onClose={() => setConfirmDelete(false)}
        >
          <ApiErrorLine error={del.error} />
        </ConfirmDialog>
      )}
      {removeDest && (
        <ConfirmDialog
          title={t('restreams.dest.remove')}
          message={t('restreams.dest.removeConfirm', { url: removeDest.url })}
          confirmLabel={t('restreams.dest.remove')}
          danger
          busy={remove.isPending}
          onConfirm={() => remove.mutate(removeDest.id)}
          onClose={() => setRemoveDest(null)}
        />
      )}
      {adding && <AddDestination id={r.id} onClose={() => setAdding(false)} />}
    </div>
  );
}

function AddDestination({ id, onClose }: { id: string; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [platform, setPlatform] = useState('custom');
  const [url, setUrl] = useState('');
  const add = useMutation({
    mutationFn: () => restreams.addDestination(id, { url: url.trim(), platform, enabled: true }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['restreams'] });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <Dialog title={t('restreams.dest.add')} onClose={onClose} testid="dest-dialog">
      <form className="restream-form" onSubmit={submit}>
        <label>
          {t('restreams.form.platform')}
          <select value={platform} onChange={(e) => setPlatform(e.target.value)} data-testid="dest-dialog-platform">
            {PLATFORMS.map((p) => (
              <option key={p} value={p}>
                {t(`restreams.platform.${p}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('restreams.form.url')}
          <input
            required
            autoComplete="off"
            spellCheck={false}
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            data-testid="dest-dialog-url"
          />
        </label>
        <ApiErrorLine error={add.error} testid="dest-dialog-error" />
        <div className="restream-actions">
          <button type="button" className="button" onClick={onClose}>
            {t('restreams.cancel')}
          </button>
          <button type="submit" className="button primary" disabled={add.isPending || !url.trim()} data-testid="dest-dialog-save">
            {add.isPending ? t('restreams.dest.adding') : t('restreams.dest.add')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Where OBS publishes to a restream's own ingest. The key is shown once,
 * right after creation (the creating answer had it); later the stream's
 * studio reveals it. */
function IngestSettings({ ingest, fresh }: { ingest: RestreamIngest; fresh?: RestreamIngest }) {
  const { t } = useI18n();
  const key = fresh?.rtmp.stream_key ?? null;
  return (
    <div className="card" data-testid="restream-ingest">
      <h2>{t('restreams.detail.ingest')}</h2>
      <CopyField label={t('restreams.detail.ingestServer')} value={ingest.rtmp.server} testid="restream-ingest-server" />
      <CopyField
        label={t('restreams.detail.ingestKey')}
        value={key}
        display={key ?? t('restreams.detail.ingestKeyHidden')}
        testid="restream-ingest-key"
      />
      <CopyField label={t('restreams.detail.ingestSrt')} value={fresh?.srt.url ?? ingest.srt.url} testid="restream-ingest-srt" />
      {key && (
        <p className="notice" data-testid="restream-ingest-once">
          {t('restreams.detail.ingestOnce')}
        </p>
      )}
    </div>
  );
}
