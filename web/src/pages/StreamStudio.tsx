// The stream studio (/streams/:id): the stream's settings (edited inline,
// PATCH), the ingest settings with the key masked until revealed, the
// on-air status and current session, the session history (stats), and,
// only while the stream is live, the preview player, the telemetry charts
// and the live controls. Viewers get a read-only page: no key, no actions.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ChevronLeft, Pencil, Trash2 } from 'lucide-react';
import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { request } from '../api/client';
import { streams, type Stream, type StreamSession } from '../api/streams';
import { useCan } from '../auth/Can';
import { formatBytes, formatDate, shortId } from '../components/format';
import { ConfirmDialog } from '../components/ops/Dialog';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { IngestCard } from '../components/streams/IngestCard';
import { LiveBadge } from '../components/streams/LiveBadge';
import { LivePreview } from '../components/streams/LivePreview';
import { forgetIngest } from '../components/streams/ingest';
import { recordTelemetry, TelemetryCharts } from '../components/streams/Telemetry';
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

function StatusCard({ stream }: { stream: Stream }) {
  const { t, locale } = useI18n();
  const s = stream.session;
  return (
    <section className="card" data-testid="stream-status" data-live={stream.is_live ? 'true' : 'false'}>
      <div className="page-head">
        <h2>{t('streams.status')}</h2>
        <LiveBadge live={stream.is_live} />
      </div>
      {s ? (
        <dl className="facts" data-testid="stream-session">
          <dt>{t('streams.session.protocol')}</dt>
          <dd className="mono">{s.protocol.toUpperCase()}</dd>
          <dt>{t('streams.session.since')}</dt>
          <dd>{formatDate(s.started_at, locale)}</dd>
          {s.remote_addr && (
            <>
              <dt>{t('streams.session.remote')}</dt>
              <dd className="mono">{s.remote_addr}</dd>
            </>
          )}
          {s.bytes_in != null && (
            <>
              <dt>{t('streams.session.bytes')}</dt>
              <dd>{formatBytes(s.bytes_in, locale)}</dd>
            </>
          )}
        </dl>
      ) : (
        <p className="muted">{t('streams.session.none')}</p>
      )}
    </section>
  );
}

function History({ sessions }: { sessions: StreamSession[] }) {
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
                  <td>{formatBytes(s.bytes_in, locale)}</td>
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

// The controls of a broadcast in progress, rendered only while it is. The
// end and archive routes belong to the live pillar (issue 10); recording
// is the stream's `record` setting, which may change while live.
function LiveActions({ stream }: { stream: Stream }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const canUpdate = useCan('stream.update');
  const act = useMutation({
    mutationFn: (what: 'end' | 'archive' | 'record') =>
      what === 'record'
        ? streams.update(stream.id, { record: !stream.record })
        : request<unknown>(`/v1/streams/${encodeURIComponent(stream.id)}/${what}`, { method: 'POST', body: {} }),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['stream', stream.id] }),
  });
  if (!canUpdate) return null;
  return (
    <section className="card" data-testid="stream-live-actions">
      <div className="stream-actions">
        <button type="button" className="button danger" onClick={() => act.mutate('end')} disabled={act.isPending} data-testid="stream-end">
          {t('streams.endStream')}
        </button>
        <button type="button" className="button" onClick={() => act.mutate('record')} disabled={act.isPending} data-testid="stream-recording">
          {stream.record ? t('streams.stopRecording') : t('streams.startRecording')}
        </button>
        <button type="button" className="button" onClick={() => act.mutate('archive')} disabled={act.isPending} data-testid="stream-archive-now">
          {t('streams.archiveNow')}
        </button>
      </div>
      <ApiErrorLine error={act.error} testid="live-action-error" />
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

export function StreamStudio() {
  const { t } = useI18n();
  const { id = '' } = useParams();
  const canKeys = useCan('stream.reveal');
  const canDelete = useCan('stream.delete');
  // no WebSocket topic carries a stream's state yet: poll it, faster on air
  const stream = useQuery({
    queryKey: ['stream', id],
    queryFn: () => streams.get(id),
    refetchInterval: (q) => (q.state.data?.is_live ? 3000 : 10_000),
  });
  const live = stream.data?.is_live ?? false;
  const stats = useQuery({
    queryKey: ['stream-stats', id],
    queryFn: () => streams.stats(id),
    refetchInterval: live ? 5000 : 30_000,
  });
  // the stats' latest sample seeds the charts (the socket adds the rest)
  useEffect(() => {
    if (stats.data?.telemetry) recordTelemetry(id, stats.data.telemetry);
  }, [id, stats.data]);

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
      {live && <LiveActions stream={s} />}
      <div className="stream-grid">
        <div className="stream-col">
          {live && <LivePreview id={s.id} />}
          <StatusCard stream={s} />
          <TelemetryCharts id={s.id} live={live} />
          <InfoCard key={s.updated_at ?? ''} stream={s} />
        </div>
        <div className="stream-col">
          {canKeys && <IngestCard stream={s} />}
          {stats.isError ? <QueryError error={stats.error} retry={() => void stats.refetch()} /> : <History sessions={stats.data?.history ?? []} />}
        </div>
      </div>
    </div>
  );
}
