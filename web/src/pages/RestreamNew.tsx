// New restream (operator): title, description, input (a file URL or one of
// our live streams), destinations (platform + URL, add/remove), schedule
// (immediate, at a time, or recurring by cron with a human summary), loop,
// simulate live → POST /v1/restreams, then the detail page. The open
// destination URLs live in this form's state only: the answer is masked.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ChevronLeft, Plus, Trash2 } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import {
  cronSummary,
  PLATFORMS,
  restreams,
  type DestinationInput,
  type InputType,
  type RestreamInput,
  type ScheduleType,
} from '../api/restreams';
import { streams } from '../api/streams';
import { useCan } from '../auth/Can';
import { Forbidden } from '../components/ops/Forbidden';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { type MessageKey, useI18n } from '../i18n';
import '../styles/restreams.css';

interface DestRow extends DestinationInput {
  key: number;
}

export function RestreamNew() {
  const { t } = useI18n();
  const can = useCan('restream.create');
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [inputType, setInputType] = useState<InputType>('file');
  const [inputUrl, setInputUrl] = useState('');
  const [streamId, setStreamId] = useState('');
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

  const create = useMutation({
    mutationFn: () => {
      const body: RestreamInput = {
        title: title.trim(),
        description: description.trim() || null,
        input_type: inputType,
        output_destinations: dests
          .filter((d) => d.url.trim())
          .map((d) => ({ url: d.url.trim(), platform: d.platform, enabled: true })),
        schedule_type: schedule,
        loop_enabled: loop,
        simulate_live: simulateLive,
      };
      if (inputType === 'file') body.input_url = inputUrl.trim();
      else body.stream_id = streamId;
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
      navigate(`/restreams/${r.id}`);
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
            {(['file', 'stream'] as const).map((v) => (
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
          {inputType === 'file' ? (
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
          ) : (
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
                <input type="datetime-local" required value={at} onChange={(e) => setAt(e.target.value)} data-testid="restream-at" />
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
