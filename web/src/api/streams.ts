// The Streams API (docs/api.md "Streams", spec §10.2): typed shapes and
// calls for the streams list, the new-stream form and the studio. Keys and
// SRT passphrases come only from create, rotate-key and reveal-key; GET
// never carries them, and the pages keep them in component state only.

import { request } from './client';

export type LatencyMode = 'normal' | 'low';

export interface StreamSession {
  id: string;
  protocol: 'rtmp' | 'srt' | string;
  /** operators and admins only */
  remote_addr?: string | null;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  bytes_in: number | null;
}

export interface Stream {
  id: string;
  user_id: string | null;
  title: string;
  description: string | null;
  is_live: boolean;
  archive_enabled: boolean;
  record: boolean;
  latency_mode: LatencyMode;
  ladder: string | null;
  stream_key_hint: string | null;
  play_name: string;
  created_at: string | null;
  updated_at: string | null;
  last_started_at: string | null;
  last_ended_at: string | null;
  archive_vod_job_id: string | null;
  session: StreamSession | null;
  /** the public half of the ingest settings (no key, no passphrase) */
  ingest?: PublicIngestJson;
}

export interface PublicIngestJson {
  rtmp: { server: string };
  srt: { url: string; streamid: string; latency_ms: number };
}

export interface Ingest {
  rtmp: { server: string; stream_key: string; url: string };
  srt: { url: string; streamid: string; passphrase: string; latency_ms: number };
}

/** The answer of create, rotate-key and reveal-key. */
export interface StreamWithKey extends Stream {
  stream_key: string;
  ingest: Ingest;
}

export interface StreamList {
  streams: Stream[];
  total: number;
  limit: number;
  offset: number;
}

/** One telemetry sample (WebSocket topic `stream:<id>`, and `telemetry` of
 * the stats): every member optional, the live pipelines fill what they know. */
export interface Telemetry {
  type?: 'telemetry';
  stream_id?: string;
  video_bitrate_kbps?: number;
  audio_bitrate_kbps?: number;
  fps?: number;
  keyframe_interval_s?: number;
  dropped_frames?: number;
  av_offset_ms?: number;
  srt_rtt_ms?: number;
  srt_loss_pct?: number;
  time?: string;
}

export interface StreamStats {
  stream_id: string;
  is_live: boolean;
  session: StreamSession | null;
  telemetry: Telemetry | null;
  history: StreamSession[];
}

export interface StreamInput {
  title: string;
  description?: string | null;
  archive_enabled?: boolean;
  record?: boolean;
  latency_mode?: LatencyMode;
}

const path = (id: string) => `/v1/streams/${encodeURIComponent(id)}`;

export const streams = {
  list: (q: { live?: boolean; limit: number; offset: number }) =>
    request<StreamList>('/v1/streams', {
      query: { live: q.live === undefined ? undefined : String(q.live), limit: q.limit, offset: q.offset },
    }),
  get: (id: string) => request<Stream>(path(id)),
  create: (body: StreamInput) => request<StreamWithKey>('/v1/streams', { method: 'POST', body }),
  update: (id: string, body: Partial<StreamInput>) => request<Stream>(path(id), { method: 'PATCH', body }),
  remove: (id: string, force = false) =>
    request<void>(path(id), { method: 'DELETE', query: { force: force ? 'true' : undefined } }),
  rotateKey: (id: string) => request<StreamWithKey>(`${path(id)}/rotate-key`, { method: 'POST', body: {} }),
  revealKey: (id: string) => request<StreamWithKey>(`${path(id)}/reveal-key`, { method: 'POST', body: {} }),
  stats: (id: string) => request<StreamStats>(`${path(id)}/stats`),
  /** the live HLS preview (served once the live pipelines exist) */
  liveUrl: (id: string) => `${path(id)}/live/index.m3u8`,
};
