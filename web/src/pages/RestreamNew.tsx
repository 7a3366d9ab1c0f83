// New restream (operator): title, description, input (a file URL, a
// playlist of them, one of our live streams or a completed job's output),
// destinations (platform + URL, add/remove), schedule
// (immediate, at a time, or recurring by cron with a human summary), loop,
// simulate live → POST /v1/restreams, then the detail page. The open
// destination URLs live in this form's state only: the answer is masked.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowDown, ArrowUp, ChevronLeft, Plus, Trash2 } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import {
  cronSummary,
  PLATFORMS,
  PLAYABLE_OUTPUTS,
  restreams,
  type DestinationInput,
  type InputKind,
  type RestreamInput,
  type ScheduleType,
} from '../api/restreams';
import { streams } from '../api/streams';
import { useCan } from '../auth/Can';
import { Forbidden } from '../components/ops/Forbidden';
import { formatDate } from '../components/format';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { type MessageKey, useI18n } from '../i18n';
import '../styles/restreams.css';

interface DestRow extends DestinationInput {
  key: number;
  url: string;
}

interface PlaylistRow {
  key: number;
  url: string;
}

const INPUT_KINDS: readonly InputKind[] = ['file', 'playlist', 'stream', 'vod_job', 'ingest'];

export function RestreamNew() {
  const { t, locale } = useI18n();
  const can = useCan('restream.create');
  const navigate = useNavigate();
  const qc = useQueryClient();
  // "Restream to…" in a stream's studio: that stream as the input
  const [params] = useSearchParams();
  const fromStream = params.get('stream') ?? '';
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [inputType, setInputType] = useState<InputKind>(fromStream ? 'stream' : 'file');
  const [inputUrl, setInputUrl] = useState('');
  const [playlist, setPlaylist] = useState<PlaylistRow[]>([{ key: 0, url: '' }]);
  const [streamId, setStreamId] = useState(fromStream);
  const [jobId, setJobId] = useState('');
  const [jobOutput, setJobOutput] = useState('');
  const [dests, setDests] = useState<DestRow[]>([{ key: 0, platform: 'custom', url: '' }]);
  const [nextKey, setNextKey] = useState(1);
  const [schedule, setSchedule] = useState<ScheduleType>('immediate');
  const [at, setAt] = useState('');
  const [cron, setCron] = useState('0 20 * * 5');
  const [durationMin, setDurationMin] = useState('60');
  const [loop, setLoop] = useState(false);
  const [simulateLive, setSimulateLive] = useState(true);

  const streamList = useQuery({
    queryKey: ['streams', 'restream-pick'],
    queryFn: () => streams.list({ limit: 100, offset: 0 }),
    enabled: can && inputType === 'stream',
  });
  const jobList = useQuery({
    queryKey: ['jobs', 'restream-pick'],
    queryFn: restreams.completedJobs,
    enabled: can && inputType === 'vod_job',
  });
  const outputList = useQuery({
    queryKey: ['jobs', 'restream-pick', jobId, 'outputs'],
    queryFn: () => restreams.jobOutputs(jobId),
    enabled: can && inputType === 'vod_job' && jobId !== '',
  });
  const playable = outputList.data?.outputs.filter((o) => PLAYABLE_OUTPUTS.includes(o.type)) ?? [];

  const create = useMutation({
    mutationFn: () => {
      const body: RestreamInput = {
        title: title.trim(),
        description: description.trim() || null,
        input_type: inputType === 'playlist' ? 'file' : inputType === 'ingest' ? 'rtmp' : inputType,
        // a platform without a URL: the service builds it from the
        // platform's publisher preset and the stream key in its secrets
        output_destinations: dests
          .filter((d) => d.url.trim() || d.platform !== 'custom')
          .map((d) =>
            d.url.trim() ? { url: d.url.trim(), platform: d.platform, enabled: true } : { platform: d.platform, enabled: true },
          ),
        schedule_type: schedule,
        loop_enabled: loop,
        simulate_live: simulateLive,
      };
      if (inputType === 'file') body.input_url = inputUrl.trim();
      else if (inputType === 'playlist') body.playlist = playlist.map((p) => p.url.trim()).filter(Boolean);
      else if (inputType === 'stream') body.stream_id = streamId;
      else if (inputType === 'ingest') {
        /* its own ingest: nothing to name, the answer carries the settings */
      } else {
        body.vod_job_id = jobId;
        if (jobOutput) body.vod_output = jobOutput;
      }
      const dur = Math.round(Number(durationMin) * 60);
      if (schedule === 'scheduled') {
        body.schedule_config = { at: at ? new Date(at).toISOString() : '' };
        if (durationMin.trim() && dur > 0) body.schedule_config.duration_s = dur;
      } else if (schedule === 'recurring') {
        body.schedule_config = { cron: cron.trim(), duration_s: dur };
      }
      return restreams.create(body);
    },
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ['restreams'] });
      // an own ingest's key is in this answer only: the detail page shows it once
      navigate(`/restreams/${r.id}`, r.ingest?.rtmp.stream_key ? { state: { ingest: r.ingest } } : undefined);
    },
  });
  if (!can) return <Forbidden title={t('restreams.new')} />;

  const setDest = (key: number, patch: Partial<DestinationInput>) =>
    setDests((ds) => ds.map((d) => (d.key === key ? { ...d, ...patch } : d)));
  const addDest = () => {
    setDests((ds) => [...ds, { key: nextKey, platform: 'custom', url: '' }]);
    setNextKey((k) => k + 1);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  const summary = schedule === 'recurring' ? cronSummary(cron, t) : null;

  return (
    <div className="page">
      <Link to="/restreams" className="back">
        <ChevronLeft size={16} aria-hidden /> {t('restreams.back')}
      </Link>
      <h1>{t('restreams.new')}</h1>
      <form className="card restream-form" onSubmit={submit} data-testid="restream-form">
        <label>
          {t('restreams.form.title')}
          <input required maxLength={255} value={title} onChange={(e) => setTitle(e.target.value)} data-testid="restream-title" />
        </label>
        <label>
          {t('restreams.form.description')}
          <textarea
            maxLength={5000}
            rows={2}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            data-testid="restream-description"
          />
        </label>

        <fieldset>
          <legend>{t('restreams.form.input')}</legend>
          <div className="restream-radios" role="radiogroup">
            {INPUT_KINDS.map((v) => (
              <label className="check" key={v}>
                <input
                  type="radio"
                  name="input_type"
                  value={v}
                  checked={inputType === v}
                  onChange={() => setInputType(v)}
                  data-testid={`restream-input-${v}`}
                />
                {t(`restreams.input.${v}`)}
              </label>
            ))}
          </div>
          {inputType === 'file' && (
            <label>
              {t('restreams.form.inputUrl')}
              <input
                required
                value={inputUrl}
                onChange={(e) => setInputUrl(e.target.value)}
                placeholder={t('restreams.form.inputUrlPlaceholder')}
                data-testid="restream-input-url"
              />
            </label>
          )}
          {inputType === 'playlist' && <PlaylistEditor rows={playlist} onChange={setPlaylist} />}
          {inputType === 'ingest' && (
            <span className="muted restream-hint" data-testid="restream-ingest-hint">
              {t('restreams.form.ingestHint')}
            </span>
          )}
          {inputType === 'stream' && (
            <label>
              {t('restreams.form.stream')}
              <select required value={streamId} onChange={(e) => setStreamId(e.target.value)} data-testid="restream-stream">
                <option value="">{t('restreams.form.streamPick')}</option>
                {streamList.data?.streams.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.title}
                  </option>
                ))}
              </select>
              {streamList.data && streamList.data.streams.length === 0 && <span className="muted">{t('restreams.form.noStreams')}</span>}
            </label>
          )}
          {inputType === 'vod_job' && (
            <label>
              {t('restreams.form.job')}
              <select
                required
                value={jobId}
                onChange={(e) => {
                  setJobId(e.target.value);
                  setJobOutput('');
                }}
                data-testid="restream-job"
                data-loaded={jobList.data ? 'true' : 'false'}
              >
                <option value="">{t('restreams.form.jobPick')}</option>
                {jobList.data?.jobs.map((j) => (
                  <option key={j.id} value={j.id}>
                    {`${baseName(j.source_url)} · ${j.profile} · ${formatDate(j.finished_at ?? j.created_at, locale)} (${j.id.slice(0, 8)})`}
                  </option>
                ))}
              </select>
              {jobList.data && jobList.data.jobs.length === 0 && <span className="muted">{t('restreams.form.noJobs')}</span>}
              <ApiErrorLine error={jobList.error} testid="restream-job-error" />
            </label>
          )}
          {inputType === 'vod_job' && jobId && (
            <label>
              {t('restreams.form.jobOutput')}
              <select
                value={jobOutput}
                onChange={(e) => setJobOutput(e.target.value)}
                data-testid="restream-job-output"
                data-loaded={outputList.data ? 'true' : 'false'}
              >
                <option value="">{t('restreams.form.jobOutputDefault')}</option>
                {playable.map((o) => (
                  <option key={o.name} value={o.name}>
                    {o.name}
                  </option>
                ))}
              </select>
              <ApiErrorLine error={outputList.error} testid="restream-job-output-error" />
            </label>
          )}
        </fieldset>

        <fieldset data-testid="restream-dests">
          <legend>{t('restreams.form.destinations')}</legend>
          {dests.map((d, i) => (
            <div className="restream-dest-row" key={d.key} data-testid="restream-dest-row">
              <label>
                {t('restreams.form.platform')}
                <select
                  value={d.platform}
                  onChange={(e) => setDest(d.key, { platform: e.target.value })}
                  data-testid={`restream-dest-platform-${i}`}
                >
                  {PLATFORMS.map((p) => (
                    <option key={p} value={p}>
                      {t(`restreams.platform.${p}`)}
                    </option>
                  ))}
                </select>
              </label>
              <label className="restream-dest-url">
                {t('restreams.form.url')}
                <input
                  type="text"
                  autoComplete="off"
                  spellCheck={false}
                  value={d.url}
                  onChange={(e) => setDest(d.key, { url: e.target.value })}
                  placeholder={t('restreams.form.urlPlaceholder')}
                  data-testid={`restream-dest-url-${i}`}
                />
              </label>
              <button
                type="button"
                className="icon-button"
                onClick={() => setDests((ds) => ds.filter((x) => x.key !== d.key))}
                aria-label={t('restreams.form.removeDestination')}
                title={t('restreams.form.removeDestination')}
                data-testid={`restream-dest-remove-${i}`}
              >
                <Trash2 size={16} aria-hidden />
              </button>
            </div>
          ))}
          <div>
            <button type="button" className="button" onClick={addDest} data-testid="restream-dest-add">
              <Plus size={14} aria-hidden /> {t('restreams.form.addDestination')}
            </button>
          </div>
          <span className="muted restream-hint">{t('restreams.form.secretHint')}</span>
          <span className="muted restream-hint">{t('restreams.form.platformHint')}</span>
        </fieldset>

        <fieldset>
          <legend>{t('restreams.form.schedule')}</legend>
          <div className="restream-radios" role="radiogroup">
            {(['immediate', 'scheduled', 'recurring'] as const).map((v) => (
              <label className="check" key={v}>
                <input
                  type="radio"
                  name="schedule_type"
                  value={v}
                  checked={schedule === v}
                  onChange={() => setSchedule(v)}
                  data-testid={`restream-schedule-${v}`}
                />
                {t(`restreams.schedule.${v}` as MessageKey)}
              </label>
            ))}
          </div>
          {schedule === 'scheduled' && (
            <div className="restream-inline">
              <label>
                {t('restreams.form.at')}
                {/* step 1: to the second (a start a few seconds ahead, not only whole minutes) */}
                <input
                  type="datetime-local"
                  step={1}
                  required
                  value={at}
                  onChange={(e) => setAt(e.target.value)}
                  data-testid="restream-at"
                />
              </label>
              <label>
                {t('restreams.form.durationOptional')}
                <input type="number" min={1} value={durationMin} onChange={(e) => setDurationMin(e.target.value)} data-testid="restream-duration" />
              </label>
            </div>
          )}
          {schedule === 'recurring' && (
            <>
              <div className="restream-inline">
                <label>
                  {t('restreams.form.cron')}
                  <input required value={cron} onChange={(e) => setCron(e.target.value)} spellCheck={false} data-testid="restream-cron" />
                </label>
                <label>
                  {t('restreams.form.duration')}
                  <input
                    type="number"
                    min={1}
                    required
                    value={durationMin}
                    onChange={(e) => setDurationMin(e.target.value)}
                    data-testid="restream-duration"
                  />
                </label>
              </div>
              <span className="muted" data-testid="restream-cron-summary">
                {summary ?? t('restreams.form.cronUnknown')}
              </span>
            </>
          )}
        </fieldset>

        <label className="check">
          <input type="checkbox" checked={loop} onChange={(e) => setLoop(e.target.checked)} data-testid="restream-loop" />
          {t('restreams.form.loop')}
        </label>
        <label className="check">
          <input
            type="checkbox"
            checked={simulateLive}
            onChange={(e) => setSimulateLive(e.target.checked)}
            data-testid="restream-simulate-live"
          />
          {t('restreams.form.simulateLive')}
        </label>
        <ApiErrorLine error={create.error} testid="restream-error" />
        <div className="restream-actions">
          <button type="submit" className="button primary" disabled={create.isPending || !title.trim()} data-testid="restream-create">
            {create.isPending ? t('restreams.form.creating') : t('restreams.form.create')}
          </button>
        </div>
      </form>
    </div>
  );
}

/** The last path segment of a job's source, for the job picker. */
function baseName(url: string): string {
  const tail = url.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return tail.slice(tail.lastIndexOf('/') + 1) || url;
}

/** The files of a playlist input, played in order: add, remove, move up
 * and down; at least one row stays (the server needs one item). */
function PlaylistEditor({ rows, onChange }: { rows: PlaylistRow[]; onChange: (rows: PlaylistRow[]) => void }) {
  const { t } = useI18n();
  const move = (i: number, by: number) => {
    const next = rows.slice();
    const [row] = next.splice(i, 1);
    next.splice(i + by, 0, row!);
    onChange(next);
  };
  const add = () => onChange([...rows, { key: Math.max(0, ...rows.map((r) => r.key)) + 1, url: '' }]);
  return (
    <div className="restream-playlist" data-testid="restream-playlist">
      <span>{t('restreams.form.playlist')}</span>
      <ol>
        {rows.map((row, i) => (
          <li key={row.key} className="restream-playlist-row" data-testid="restream-playlist-row">
            <span className="restream-playlist-n" aria-hidden>
              {i + 1}.
            </span>
            <input
              required
              value={row.url}
              onChange={(e) => onChange(rows.map((r) => (r.key === row.key ? { ...r, url: e.target.value } : r)))}
              placeholder={t('restreams.form.inputUrlPlaceholder')}
              aria-label={t('restreams.form.playlistItem', { n: i + 1 })}
              spellCheck={false}
              data-testid={`restream-playlist-url-${i}`}
            />
            <button
              type="button"
              className="icon-button"
              disabled={i === 0}
              onClick={() => move(i, -1)}
              aria-label={t('restreams.form.playlistUp')}
              title={t('restreams.form.playlistUp')}
              data-testid={`restream-playlist-up-${i}`}
            >
              <ArrowUp size={16} aria-hidden />
            </button>
            <button
              type="button"
              className="icon-button"
              disabled={i === rows.length - 1}
              onClick={() => move(i, 1)}
              aria-label={t('restreams.form.playlistDown')}
              title={t('restreams.form.playlistDown')}
              data-testid={`restream-playlist-down-${i}`}
            >
              <ArrowDown size={16} aria-hidden />
            </button>
            <button
              type="button"
              className="icon-button"
              disabled={rows.length === 1}
              onClick={() => onChange(rows.filter((r) => r.key !== row.key))}
              aria-label={t('restreams.form.playlistRemove')}
              title={t('restreams.form.playlistRemove')}
              data-testid={`restream-playlist-remove-${i}`}
            >
              <Trash2 size={16} aria-hidden />
            </button>
          </li>
        ))}
      </ol>
      <div>
        <button type="button" className="button" onClick={add} data-testid="restream-playlist-add">
          <Plus size={14} aria-hidden /> {t('restreams.form.playlistAdd')}
        </button>
      </div>
      <span className="muted restream-hint">{t('restreams.form.playlistHint')}</span>
    </div>
  );
}
