// The job's timeline: the status steps it went through (queued → processing
// → stitching → uploading → completed, or failed/cancelled) with the time
// each was reached, and the events of GET /v1/jobs/{id}/events below.
// Stitching and uploading are no events of their own: their times are those
// this page saw live over the WebSocket.

import { CheckCircle2, Circle, XCircle } from 'lucide-react';
import type { JobStatus } from '../../api';
import type { JobEvent } from '../../api/detail';
import { useI18n } from '../../i18n';
import { formatDate } from '../format';

const FLOW: JobStatus[] = ['queued', 'processing', 'stitching', 'uploading', 'completed'];

// which event marks which status
const EVENT_STATUS: Record<string, JobStatus> = {
  'job.created': 'queued',
  'job.started': 'processing',
  'job.completed': 'completed',
  'job.failed': 'failed',
  'job.cancelled': 'cancelled',
};

export function statusTimes(events: JobEvent[], seen: Partial<Record<JobStatus, string>>): Partial<Record<JobStatus, string>> {
  const out: Partial<Record<JobStatus, string>> = { ...seen };
  for (const e of events) {
    const s = EVENT_STATUS[e.type];
    if (s && !out[s]) out[s] = e.created_at;
  }
  return out;
}

export function Timeline({
  status,
  events,
  seen,
}: {
  status: JobStatus;
  events: JobEvent[];
  seen: Partial<Record<JobStatus, string>>;
}) {
  const { t, locale } = useI18n();
  const times = statusTimes(events, seen);
  const end: JobStatus | null = status === 'failed' || status === 'cancelled' ? status : null;
  const cur = FLOW.indexOf(status);
  // a finished job skipped the steps it never needed (no stitch for one
  // task); a running one shows those still ahead
  const running = !end && status !== 'completed';
  const steps = FLOW.filter((s) => {
    if (s === 'completed') return !end;
    return s === 'queued' || !!times[s] || s === status || running;
  });
  if (end) steps.push(end);

  return (
    <div className="timeline">
      <ol className="steps" data-testid="timeline-steps">
        {steps.map((s) => {
          const reached = !!times[s] || s === status || (cur >= 0 && FLOW.indexOf(s) >= 0 && FLOW.indexOf(s) < cur);
          const bad = s === 'failed' || s === 'cancelled';
          return (
            <li
              key={s}
              className={`step${reached ? ' reached' : ''}${s === status ? ' current' : ''}${bad ? ' bad' : ''}`}
              data-step={s}
              data-reached={reached}
              data-time={times[s] ?? ''}
            >
              {bad ? <XCircle size={16} aria-hidden /> : reached ? <CheckCircle2 size={16} aria-hidden /> : <Circle size={16} aria-hidden />}
              <span className="step-name">{t(`status.${s}`)}</span>
              <span className="step-time muted small">{times[s] ? formatDate(times[s], locale) : ''}</span>
            </li>
          );
        })}
      </ol>
      <details className="events" open={events.length <= 12}>
        <summary>{t('detail.timeline.events', { n: events.length })}</summary>
        <ul className="event-list" data-testid="timeline-events">
          {events.map((e) => (
            <li key={e.id} data-type={e.type} className={e.type.endsWith('failed') ? 'event bad' : 'event'}>
              <span className="muted small mono">{formatDate(e.created_at, locale)}</span>
              <span className="event-type mono small">{e.type}</span>
              <span className="event-msg">{e.message ?? ''}</span>
            </li>
          ))}
        </ul>
      </details>
    </div>
  );
}
