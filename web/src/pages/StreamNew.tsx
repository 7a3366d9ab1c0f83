// New stream (operator): title, description, archive, record, latency →
// POST /v1/streams, then the studio. The key of the creation answer is not
// carried over: the studio reveals it on request (audited), like any key.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ChevronLeft } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { streams, type LatencyMode } from '../api/streams';
import { useCan } from '../auth/Can';
import { Forbidden } from '../components/ops/Forbidden';
import { rememberIngest } from '../components/streams/ingest';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { useI18n } from '../i18n';
import '../styles/streams.css';

export function StreamNew() {
  const { t } = useI18n();
  const can = useCan('stream.create');
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [archive, setArchive] = useState(true);
  const [record, setRecord] = useState(false);
  const [latency, setLatency] = useState<LatencyMode>('normal');
  const create = useMutation({
    mutationFn: () =>
      streams.create({
        title: title.trim(),
        description: description.trim() || null,
        archive_enabled: archive,
        record,
        latency_mode: latency,
      }),
    onSuccess: (s) => {
      // the server and SRT host for the studio (never the key)
      rememberIngest(s.id, s.ingest);
      void qc.invalidateQueries({ queryKey: ['streams'] });
      navigate(`/streams/${s.id}`);
    },
  });
  if (!can) return <Forbidden title={t('streams.new')} />;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <div className="page">
      <Link to="/streams" className="back">
        <ChevronLeft size={16} aria-hidden /> {t('streams.back')}
      </Link>
      <h1>{t('streams.new')}</h1>
      <form className="card stream-form" onSubmit={submit} data-testid="stream-form">
        <label>
          {t('streams.form.title')}
          <input
            name="title"
            required
            maxLength={255}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            data-testid="stream-title"
          />
        </label>
        <label>
          {t('streams.form.description')}
          <textarea
            name="description"
            maxLength={5000}
            rows={3}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            data-testid="stream-description"
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={archive} onChange={(e) => setArchive(e.target.checked)} data-testid="stream-archive" />
          {t('streams.form.archive')}
        </label>
        <label className="check">
          <input type="checkbox" checked={record} onChange={(e) => setRecord(e.target.checked)} data-testid="stream-record" />
          {t('streams.form.record')}
        </label>
        <label>
          {t('streams.form.latency')}
          <select value={latency} onChange={(e) => setLatency(e.target.value as LatencyMode)} data-testid="stream-latency">
            <option value="normal">{t('streams.form.latency.normal')}</option>
            <option value="low">{t('streams.form.latency.low')}</option>
          </select>
        </label>
        <ApiErrorLine error={create.error} testid="stream-error" />
        <div className="stream-actions">
          <button type="submit" className="button primary" disabled={create.isPending || !title.trim()} data-testid="stream-create">
            {create.isPending ? t('streams.form.creating') : t('streams.form.create')}
          </button>
        </div>
      </form>
    </div>
  );
}
