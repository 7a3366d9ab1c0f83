// The Restreams API (docs/api.md "Restreams", spec §4.6/§10.3): typed
// shapes and calls for the restream list, the new-restream form and the
// detail page. Destination URLs come back masked from every call (the
// stream key is in them); the form sends the open URL once and keeps it
// nowhere else.

import type { MessageKey, TFunction } from '../i18n';
import { request } from './client';
import type { JobList, Outputs } from './types';

export type RestreamStatus = 'stopped' | 'starting' | 'streaming' | 'error';
export type InputType = 'file' | 'stream' | 'vod_job' | 'rtmp' | 'srt';
export type ScheduleType = 'immediate' | 'scheduled' | 'recurring';
export type DestState = 'connecting' | 'live' | 'reconnecting' | 'disabled';

/** A destination's figures, from the worker once a second. */
export interface DestStats {
  state?: DestState | string;
  enabled?: boolean;
  bitrate_kbps?: number;
  bytes_acked?: number;
  uptime_s?: number;
  reconnects?: number;
  last_error?: string | null;
}

export interface Destination {
  id: string;
  platform: string;
  /** masked: `rtmp://host/app/****abcd` */
  url: string;
  enabled: boolean;
  stats?: DestStats | null;
}

export interface ScheduleConfig {
  at?: string;
  cron?: string;
  duration_s?: number;
}

export interface Restream {
  id: string;
  user_id: string | null;
  title: string;
  description: string | null;
  input_type: InputType;
  input_url: string | null;
  vod_job_id: string | null;
  /** vod_job: the output asked for (absent: the final file, else the manifest) */
  vod_output?: string | null;
  stream_id: string | null;
  playlist: string[];
  output_destinations: Destination[];
  schedule_type: ScheduleType;
  schedule_config: ScheduleConfig | null;
  loop_enabled: boolean;
  loop_count: number | null;
  simulate_live: boolean;
  status: RestreamStatus;
  error: string | null;
  current_stats: Record<string, DestStats> | null;
  created_at: string | null;
  updated_at: string | null;
  /** rtmp/srt input: its own ingest; the key only in the creating answer */
  ingest?: RestreamIngest;
}

export interface RestreamIngest {
  rtmp: { server: string; stream_key?: string; url?: string };
  srt: { streamid: string; url: string; passphrase?: string; latency_ms: number };
}

export interface RestreamList {
  restreams: Restream[];
  total: number;
}

export interface DestinationInput {
  /** absent: built by the service from the platform's preset and key */
  url?: string;
  platform?: string;
  enabled?: boolean;
}

export interface RestreamInput {
  title: string;
  description?: string | null;
  input_type: InputType;
  input_url?: string;
  /** file input: several locations played in order (instead of input_url) */
  playlist?: string[];
  stream_id?: string;
  vod_job_id?: string;
  vod_output?: string;
  output_destinations: DestinationInput[];
  schedule_type: ScheduleType;
  schedule_config?: ScheduleConfig | null;
  loop_enabled: boolean;
  simulate_live: boolean;
}

/** What the form offers as input; a playlist is a `file` input with
 * `playlist` set. */
export type InputKind = 'file' | 'playlist' | 'stream' | 'vod_job' | 'ingest';

/** The form's input kind of a stored restream. */
export function inputKind(r: Restream): InputKind {
  if (r.input_type === 'rtmp' || r.input_type === 'srt') return 'ingest';
  return r.input_type === 'file' && r.playlist.length > 0 ? 'playlist' : r.input_type;
}

/** The platforms the form offers; the server stores any short name. */
export const PLATFORMS = ['youtube', 'twitch', 'facebook', 'kick', 'rumble', 'custom'] as const;

const path = (id: string) => `/v1/restreams/${encodeURIComponent(id)}`;

export const restreams = {
  list: () => request<RestreamList>('/v1/restreams'),
  get: (id: string) => request<Restream>(path(id)),
  create: (body: RestreamInput) => request<Restream>('/v1/restreams', { method: 'POST', body }),
  remove: (id: string) => request<void>(path(id), { method: 'DELETE' }),
  start: (id: string) => request<Restream>(`${path(id)}/start`, { method: 'POST', body: {} }),
  stop: (id: string) => request<Restream>(`${path(id)}/stop`, { method: 'POST', body: {} }),
  addDestination: (id: string, body: DestinationInput) =>
    request<unknown>(`${path(id)}/destinations`, { method: 'POST', body }),
  setDestinationEnabled: (id: string, dest: string, enabled: boolean) =>
    request<unknown>(`${path(id)}/destinations/${encodeURIComponent(dest)}`, { method: 'PATCH', body: { enabled } }),
  removeDestination: (id: string, dest: string) =>
    request<unknown>(`${path(id)}/destinations/${encodeURIComponent(dest)}`, { method: 'DELETE' }),
  /** the jobs a restream can play: completed ones, newest first */
  completedJobs: () =>
    request<JobList>('/v1/jobs', { query: { status: 'completed', limit: 100, offset: 0, order: 'newest' } }),
  jobOutputs: (job: string) => request<Outputs>(`/v1/jobs/${encodeURIComponent(job)}/outputs`),
};

/** The outputs of a job a restream can play: files and manifests with
 * video (not thumbnails or subtitles). */
export const PLAYABLE_OUTPUTS = ['final', 'manifest', 'rendition'];

/** A destination's current figures: `current_stats` (fresh from the
 * worker) over the stored `stats`; a disabled one is `disabled`. */
export function destStats(r: Restream, d: Destination): DestStats {
  const s = { ...(d.stats ?? {}), ...(r.current_stats?.[d.id] ?? {}) };
  if (!d.enabled) s.state = 'disabled';
  return s;
}

/** A human summary of a 5-field cron line, or null when it is not one
 * this summary understands (the server still checks it). Only the common
 * shapes: every N minutes, daily at h:m, weekly on days at h:m. */
export function cronSummary(
  cron: string,
  t: TFunction,
): string | null {
  const f = cron.trim().split(/\s+/);
  if (f.length !== 5) return null;
  const [m, h, dom, mon, dow] = f as [string, string, string, string, string];
  const num = /^\d+$/;
  const step = /^\*\/(\d+)$/.exec(m);
  if (step && h === '*' && dom === '*' && mon === '*' && dow === '*') return t('restreams.cron.everyMinutes', { n: step[1]! });
  if (m === '*' && h === '*' && dom === '*' && mon === '*' && dow === '*') return t('restreams.cron.everyMinute');
  if (!num.test(m)) return null;
  if (h === '*' && dom === '*' && mon === '*' && dow === '*') return t('restreams.cron.hourly', { m: Number(m) });
  if (!num.test(h)) return null;
  const time = `${h.padStart(2, '0')}:${m.padStart(2, '0')}`;
  if (dom === '*' && mon === '*' && dow === '*') return t('restreams.cron.daily', { time });
  if (dom === '*' && mon === '*' && /^[0-7](?:[-,][0-7])*$/.test(dow)) {
    const days = dow.split(',').map((part) =>
      part.split('-').map((d) => t(`restreams.dow.${Number(d) % 7}` as MessageKey)).join('–')).join(', ');
    return t('restreams.cron.weekly', { days, time });
  }
  if (num.test(dom) && mon === '*' && dow === '*') return t('restreams.cron.monthly', { day: Number(dom), time });
  return null;
}
