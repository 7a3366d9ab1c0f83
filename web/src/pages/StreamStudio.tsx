// The stream studio (/streams/:id): the stream's settings (edited inline,
// PATCH), the ingest settings with the key masked until revealed, the
// on-air status and the current session (online for, bytes in, viewers,
// dropped and late frames, network health, bitrates against their
// target), the session history (stats), the preview player and the
// telemetry charts while live, and the live controls: end the stream,
// start or stop recording, archive to a VOD job. The page follows the
// WebSocket topic `stream:<id>` at all times: its telemetry feeds the
// charts, stream.started / stream.ended refresh the stream (and the
// streams list) at once. Viewers get a read-only page: no key, no actions.

import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { ChevronLeft, Pencil, Trash2 } from 'lucide-react';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { streams, type Stream, type StreamLifecycleEvent, type StreamSession, type StreamStats, type Telemetry } from '../api/streams';
import { useTopicEvents } from '../api/ws';
import { useCan } from '../auth/Can';
import { formatBytes, formatDate, formatDuration, shortId } from '../components/format';
import type { Point } from '../components/ops/metrics';
import { ConfirmDialog } from '../components/ops/Dialog';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { IngestCard } from '../components/streams/IngestCard';
import { LiveBadge } from '../components/streams/LiveBadge';
import { LivePreview } from '../components/streams/LivePreview';
import { StreamRestreams } from '../components/streams/StreamRestreams';
import { forgetIngest } from '../components/streams/ingest';
import { bitrateLevel, networkHealth, recordTelemetry, TelemetryCharts, useTelemetry } from '../components/streams/Telemetry';
import { useI18n } from '../i18n';
import '../styles/ops.css';
import '../styles/streams.css';

function InfoCard({ stream }: { stream: Stream }) {
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const canEdit = useCan('stream.update');
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(stream.title);
  const [description, setDescription] = useState(stream.description ?? '');
  const [archive, setArchive] = useState(stream.archive_enabled);
  const [rec, setRec] = useState(stream.record);
  const save = useMutation({
    mutationFn: () =>
      streams.update(stream.id, {
        title: title.trim(),
        description: description.trim() || null,
        archive_enabled: archive,
        record: rec,
      }),
    onSuccess: (s) => {
      qc.setQueryData(['stream', stream.id], s);
      void qc.invalidateQueries({ queryKey: ['streams'] });
      setEditing(false);
    },
  });
  const start = () => {
    setTitle(stream.title);
    setDescription(stream.description ?? '');
    setArchive(stream.archive_enabled);
    setRec(stream.record);
    save.reset();
    setEditing(true);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const onOff = (b: boolean) => (b ? t('streams.yes') : t('streams.no'));

  if (editing)
    return (
      <form className="card stream-form" onSubmit={submit} data-testid="stream-edit">
        <h2>{t('streams.info')}</h2>
        <label>
          {t('streams.form.title')}
          <input required maxLength={255} value={title} onChange={(e) => setTitle(e.target.value)} data-testid="edit-title" />
        </label>
        <label>
          {t('streams.form.description')}
          <textarea maxLength={5000} rows={3} value={description} onChange={(e) => setDescription(e.target.value)} data-testid="edit-description" />
        </label>
        <label className="check">
          <input type="checkbox" checked={archive} onChange={(e) => setArchive(e.target.checked)} data-testid="edit-archive" />
          {t('streams.form.archive')}
        </label>
        <label className="check">
          <input type="checkbox" checked={rec} onChange={(e) => setRec(e.target.checked)} data-testid="edit-record" />
          {t('streams.form.record')}
        </label>
        <ApiErrorLine error={save.error} testid="edit-error" />
        <div className="stream-actions">
          <button type="button" className="button" onClick={() => setEditing(false)}>
            {t('streams.form.cancel')}
          </button>
          <button type="submit" className="button primary" disabled={save.isPending || !title.trim()} data-testid="edit-save">
            {t('streams.form.save')}
          </button>
        </div>
      </form>
    );
  return (
    <section className="card" data-testid="stream-info">
      <div className="page-head">
        <h2>{t('streams.info')}</h2>
        <span className="spacer" />
        {canEdit && (
          <button type="button" className="button" onClick={start} data-testid="stream-edit-start">
            <Pencil size={16} aria-hidden /> {t('streams.form.edit')}
          </button>
        )}
      </div>
      <dl className="facts">
        <dt>{t('streams.info.description')}</dt>
        <dd data-testid="info-description">{stream.description || <span className="muted">{t('streams.info.noDescription')}</span>}</dd>
        <dt>{t('streams.info.archive')}</dt>
        <dd data-testid="info-archive">{onOff(stream.archive_enabled)}</dd>
        <dt>{t('streams.info.record')}</dt>
        <dd data-testid="info-record">{onOff(stream.record)}</dd>
        <dt>{t('streams.info.latency')}</dt>
        <dd>{t(stream.latency_mode === 'low' ? 'streams.form.latency.low' : 'streams.form.latency.normal')}</dd>
        <dt>{t('streams.info.playName')}</dt>
        <dd className="mono stream-break">{stream.play_name}</dd>
        <dt>{t('streams.info.created')}</dt>
        <dd>{formatDate(stream.created_at, locale)}</dd>
        {stream.archive_vod_job_id && (
          <>
            <dt>{t('streams.col.archive')}</dt>
            <dd>
              <Link to={`/jobs/${stream.archive_vod_job_id}`}>{t('streams.archiveJob', { id: shortId(stream.archive_vod_job_id) })}</Link>
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

// a clock for "online for …", ticking only while there is something to count
function useNow(on: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [on]);
  return now;
}

/** Whether the running publish records: the session says so; before the
 * service reports it, what the stream's settings imply. */
function isRecording(stream: Stream): boolean {
  return stream.session?.recording ?? (stream.record || stream.archive_enabled);
}

const HEALTH_LABEL = {
  excellent: 'streams.health.excellent',
  degraded: 'streams.health.degraded',
  poor: 'streams.health.poor',
} as const;

function StatusCard({ stream, stats, data }: { stream: Stream; stats: StreamStats | undefined; data: Point[] }) {
  const { t, locale } = useI18n();
  const s = stream.session;
  const live = stream.is_live && s != null;
  const now = useNow(live);
  // the samples of this session only (the series may hold an earlier one's)
  const since = s?.started_at ? Date.parse(s.started_at) : NaN;
  const mine = live && Number.isFinite(since) ? data.filter((p) => p.t >= since - 2000) : [];
  const last = mine[mine.length - 1];
  const health = live ? networkHealth(mine) : null;
  const video = bitrateLevel(mine, 'video');
  const audio = bitrateLevel(mine, 'audio');
  const bytes = last?.bytes ?? s?.bytes_in ?? null;
  const viewers = last?.viewers ?? stats?.viewers;
  const seen = mine.map((p) => p.viewers).filter((v): v is number => v !== undefined);
  const peak = Math.max(stats?.peak_viewers ?? -1, viewers ?? -1, ...seen);
  const kbps = (v: number | undefined) => (v === undefined ? '—' : t('streams.kbps', { v: v.toFixed(0) }));
  const target = (x: { target: number } | null) => (x ? t('streams.session.target', { v: x.target.toFixed(0) }) : undefined);
  return (
    <section className="card" data-testid="stream-status" data-live={stream.is_live ? 'true' : 'false'}>
      <div className="page-head">
        <h2>{t('streams.status')}</h2>
        <LiveBadge live={stream.is_live} />
      </div>
      {s ? (
        <dl className="facts" data-testid="stream-session" data-session-id={s.id}>
          <dt>{t('streams.session.protocol')}</dt>
          <dd className="mono">{s.protocol.toUpperCase()}</dd>
          <dt>{t('streams.session.since')}</dt>
          <dd>{formatDate(s.started_at, locale)}</dd>
          {live && Number.isFinite(since) && (
            <>
              <dt>{t('streams.session.online')}</dt>
              <dd data-testid="session-online" data-seconds={Math.max(0, Math.floor((now - since) / 1000))}>
                {t('streams.session.onlineFor', { d: formatDuration(Math.max(0, (now - since) / 1000)) })}
              </dd>
            </>
          )}
          {s.remote_addr && (
            <>
              <dt>{t('streams.session.remote')}</dt>
              <dd className="mono">{s.remote_addr}</dd>
            </>
          )}
          {bytes != null && (
            <>
              <dt>{t('streams.session.bytes')}</dt>
              <dd data-testid="session-bytes" data-bytes={bytes}>
                {formatBytes(bytes, locale)}
              </dd>
            </>
          )}
          {live && (
            <>
              <dt>{t('streams.session.recording')}</dt>
              <dd data-testid="session-recording" data-recording={isRecording(stream) ? 'true' : 'false'}>
                {isRecording(stream) ? t('streams.session.recordingOn') : t('streams.session.recordingOff')}
              </dd>
              <dt>{t('streams.session.viewers')}</dt>
              <dd data-testid="session-viewers" data-viewers={viewers ?? ''} data-peak={peak >= 0 ? peak : ''}>
                {viewers === undefined ? '—' : t('streams.session.viewersPeak', { n: viewers, peak: Math.max(peak, viewers) })}
              </dd>
              <dt>{t('streams.session.health')}</dt>
              <dd>
                {health ? (
                  <span className={`badge stream-health-${health}`} data-testid="session-health" data-health={health}>
                    {t(HEALTH_LABEL[health])}
                  </span>
                ) : (
                  '—'
                )}
              </dd>
              <dt>{t('streams.tel.video')}</dt>
              <dd className={video ? `stream-level-${video.level}` : undefined} title={target(video)} data-testid="session-video" data-level={video?.level ?? ''}>
                {kbps(last?.video)}
              </dd>
              <dt>{t('streams.tel.audio')}</dt>
              <dd className={audio ? `stream-level-${audio.level}` : undefined} title={target(audio)} data-testid="session-audio" data-level={audio?.level ?? ''}>
                {kbps(last?.audio)}
              </dd>
              <dt>{t('streams.tel.dropped')}</dt>
              <dd data-testid="session-dropped">{last?.dropped ?? '—'}</dd>
              <dt>{t('streams.tel.late')}</dt>
              <dd data-testid="session-late">{last?.late ?? '—'}</dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">{t('streams.session.none')}</p>
      )}
    </section>
  );
}

// liveBytes: what the running session received so far (its row's figure
// is the store's, written when the session ends)
function History({ sessions, liveBytes }: { sessions: StreamSession[]; liveBytes?: number }) {
  const { t, locale } = useI18n();
  return (
    <section className="card" data-testid="stream-history">
      <h2>{t('streams.history')}</h2>
      {sessions.length === 0 ? (
        <p className="muted">{t('streams.history.empty')}</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>{t('streams.history.started')}</th>
                <th>{t('streams.history.ended')}</th>
                <th>{t('streams.session.protocol')}</th>
                <th>{t('streams.session.bytes')}</th>
                <th>{t('streams.history.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.id} data-session-id={s.id}>
                  <td>{formatDate(s.started_at, locale)}</td>
                  <td>{s.ended_at ? formatDate(s.ended_at, locale) : <span className="badge stream-live">{t('streams.live')}</span>}</td>
                  <td className="mono">{s.protocol.toUpperCase()}</td>
                  <td>{formatBytes(!s.ended_at && liveBytes !== undefined ? Math.max(liveBytes, s.bytes_in ?? 0) : s.bytes_in, locale)}</td>
                  <td>{s.end_reason ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// The operator's controls: end and recording while live, archive whenever
// (it archives the newest recording, also after the broadcast).
function LiveActions({ stream, onEnding }: { stream: Stream; onEnding: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const [jobId, setJobId] = useState<string | null>(null);
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['stream', stream.id] });
    void qc.invalidateQueries({ queryKey: ['streams'] });
  };
  const end = useMutation({
    mutationFn: () => streams.end(stream.id),
    onSuccess: () => {
      setConfirm(false);
      // the preview stops now: its playlist goes away with the publish
      onEnding();
    },
    onSettled: refresh,
  });
  const recording = isRecording(stream);
  const rec = useMutation({
    mutationFn: (enabled: boolean) => streams.setRecording(stream.id, enabled),
    onSuccess: (a) => {
      qc.setQueryData<Stream>(['stream', stream.id], (old) =>
        old?.session ? { ...old, session: { ...old.session, recording: a.recording } } : old,
      );
    },
    onSettled: refresh,
  });
  const archive = useMutation({
    mutationFn: () => streams.archive(stream.id),
    onSuccess: (a) => setJobId(a.archive_vod_job_id),
    onSettled: refresh,
  });
  const busy = end.isPending || rec.isPending || archive.isPending;
  return (
    <section className="card" data-testid="stream-live-actions">
      <div className="stream-actions">
        {stream.is_live && (
          <>
            <button type="button" className="button danger" onClick={() => setConfirm(true)} disabled={busy} data-testid="stream-end">
              {t('streams.endStream')}
            </button>
            <button
              type="button"
              className="button"
              onClick={() => rec.mutate(!recording)}
              disabled={busy}
              data-testid="stream-recording"
              data-recording={recording ? 'true' : 'false'}
            >
              {recording ? t('streams.stopRecording') : t('streams.startRecording')}
            </button>
          </>
        )}
        <button type="button" className="button" onClick={() => archive.mutate()} disabled={busy} data-testid="stream-archive-now">
          {t('streams.archiveNow')}
        </button>
      </div>
      {jobId && (
        <p className="notice" data-testid="archive-started">
          {t('streams.archiveStarted')}{' '}
          <Link to={`/jobs/${jobId}`} data-testid="archive-job-link" data-job-id={jobId}>
            {t('streams.archiveJob', { id: shortId(jobId) })}
          </Link>
        </p>
      )}
      <ApiErrorLine error={end.error ?? rec.error ?? archive.error} testid="live-action-error" />
      {confirm && (
        <ConfirmDialog
          title={t('streams.endStream')}
          message={t('streams.endConfirm')}
          confirmLabel={t('streams.endStream')}
          danger
          busy={end.isPending}
          onConfirm={() => end.mutate()}
          onClose={() => {
            setConfirm(false);
            end.reset();
          }}
        >
          <ApiErrorLine error={end.error} testid="end-error" />
        </ConfirmDialog>
      )}
    </section>
  );
}

function DeleteStream({ stream }: { stream: Stream }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [force, setForce] = useState(false);
  const del = useMutation({
    mutationFn: () => streams.remove(stream.id, force),
    onSuccess: () => {
      forgetIngest(stream.id);
      qc.removeQueries({ queryKey: ['stream', stream.id] });
      qc.removeQueries({ queryKey: ['stream-stats', stream.id] });
      void qc.invalidateQueries({ queryKey: ['streams'] });
      navigate('/streams');
    },
    onError: (e) => {
      // on air: offer the forced delete, with its warning
      if (e instanceof ApiError && e.code === 'WE-STR-003') setForce(true);
    },
  });
  const close = () => {
    setOpen(false);
    setForce(false);
    del.reset();
  };
  return (
    <>
      <button type="button" className="button danger" onClick={() => setOpen(true)} data-testid="stream-delete">
        <Trash2 size={16} aria-hidden /> {t('streams.delete')}
      </button>
      {open && (
        <ConfirmDialog
          title={t('streams.delete')}
          message={t('streams.deleteConfirm')}
          confirmLabel={force ? t('streams.forceDelete') : t('streams.delete')}
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate()}
          onClose={close}
        >
          {force ? (
            <p className="warn-box" role="alert" data-testid="delete-live-warning">
              {t('streams.deleteLive')}
            </p>
          ) : (
            <ApiErrorLine error={del.error} testid="delete-error" />
          )}
        </ConfirmDialog>
      )}
    </>
  );
}

// stream.started / stream.ended: the stream, its stats and the list change
function refreshStream(qc: QueryClient, id: string) {
  void qc.invalidateQueries({ queryKey: ['stream', id] });
  void qc.invalidateQueries({ queryKey: ['stream-stats', id] });
  void qc.invalidateQueries({ queryKey: ['streams'] });
}

// The playlist exists once the first segments are written: a sample with
// frames at least 3 s (three 1 s segments) into the session, by the
// service's clock on both sides. Before, the preview would only see 404s.
const PREVIEW_AFTER_MS = 3000;

function previewReady(session: StreamSession | null, data: Point[]): boolean {
  const since = session?.started_at ? Date.parse(session.started_at) : NaN;
  if (!Number.isFinite(since)) return false;
  return data.some((p) => p.t >= since + PREVIEW_AFTER_MS && (p.fps ?? 0) > 0);
}

export function StreamStudio() {
  const { t } = useI18n();
  const { id = '' } = useParams();
  const qc = useQueryClient();
  const canKeys = useCan('stream.reveal');
  const canDelete = useCan('stream.delete');
  const canUpdate = useCan('stream.update');
  // the socket tells the changes at once; the poll is the fallback for a
  // socket that is down (and for what it does not carry)
  const stream = useQuery({
    queryKey: ['stream', id],
    queryFn: () => streams.get(id),
    refetchInterval: (q) => (q.state.data?.is_live ? 5000 : 15_000),
  });
  const live = stream.data?.is_live ?? false;
  const stats = useQuery({
    queryKey: ['stream-stats', id],
    queryFn: () => streams.stats(id),
    refetchInterval: live ? 5000 : 30_000,
  });
  const onEvent = useCallback(
    (raw: unknown) => {
      const d = raw as (Telemetry | StreamLifecycleEvent) | null;
      if (!d || (d.stream_id && d.stream_id !== id)) return;
      if (d.type === 'telemetry') {
        recordTelemetry(id, d);
        // a sample while the page thinks the stream offline: it is not
        if (!qc.getQueryData<Stream>(['stream', id])?.is_live) void qc.invalidateQueries({ queryKey: ['stream', id] });
      } else if (d.type === 'stream.started' || d.type === 'stream.ended') {
        refreshStream(qc, id);
      }
    },
    [id, qc],
  );
  useTopicEvents(id ? `stream:${id}` : null, onEvent);
  // the stats' samples seed the charts (the socket adds the rest)
  useEffect(() => {
    for (const sample of stats.data?.telemetry_history ?? []) recordTelemetry(id, sample);
    if (stats.data?.telemetry) recordTelemetry(id, stats.data.telemetry);
  }, [id, stats.data]);
  const data = useTelemetry(id);
  // after End: no more preview, until the stream is live again
  const [ending, setEnding] = useState(false);
  useEffect(() => {
    if (!live) setEnding(false);
  }, [live]);

  if (stream.isError) return <QueryError error={stream.error} retry={() => void stream.refetch()} />;
  if (!stream.data) return <p className="muted">{t('common.loading')}</p>;
  const s = stream.data;
  return (
    <div className="page stream-studio" data-testid="stream-studio" data-stream-id={s.id} data-live={live ? 'true' : 'false'}>
      <Link to="/streams" className="back">
        <ChevronLeft size={16} aria-hidden /> {t('streams.back')}
      </Link>
      <div className="page-head">
        <h1 className="stream-break" data-testid="studio-title">
          {s.title}
        </h1>
        <LiveBadge live={live} />
        <span className="spacer" />
        {canDelete && <DeleteStream stream={s} />}
      </div>
      {/* off air, only a stream that has been on air has a recording to archive */}
      {canUpdate && (live || (stats.data?.history.length ?? 0) > 0) && <LiveActions stream={s} onEnding={() => setEnding(true)} />}
      <div className="stream-grid">
        <div className="stream-col">
          {live && !ending && <LivePreview id={s.id} ready={previewReady(s.session, data)} />}
          <StatusCard stream={s} stats={stats.data} data={data} />
          <InfoCard key={s.updated_at ?? ''} stream={s} />
        </div>
        <div className="stream-col">
          <TelemetryCharts id={s.id} />
          {canKeys && <IngestCard stream={s} />}
          <StreamRestreams streamId={s.id} />
          {stats.isError ? (
            <QueryError error={stats.error} retry={() => void stats.refetch()} />
          ) : (
            <History sessions={stats.data?.history ?? []} liveBytes={live ? data[data.length - 1]?.bytes : undefined} />
          )}
        </div>
      </div>
    </div>
  );
}
