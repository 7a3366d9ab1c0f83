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
  /** whether the running publish is being recorded (live sessions only) */
  recording?: boolean;
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
  /** counters of the session */
  dropped_frames?: number;
  late_frames?: number;
  bytes_in?: number;
  /** distinct clients that fetched the live playlist in the last 15 s */
  viewers?: number;
  av_offset_ms?: number;
  srt_rtt_ms?: number;
  srt_loss_pct?: number;
  srt_packets_lost?: number;
  srt_packets_dropped?: number;
  time?: string;
  time_ms?: number;
}

/** The other events of the topic `stream:<id>`. */
export interface StreamLifecycleEvent {
  type: 'stream.started' | 'stream.ended';
  stream_id: string;
  session_id?: string;
  protocol?: string;
  takeover?: boolean;
  reason?: string;
  duration_s?: number;
}

export interface StreamStats {
  stream_id: string;
  is_live: boolean;
  session: StreamSession | null;
  telemetry: Telemetry | null;
  telemetry_history?: Telemetry[];
  viewers?: number;
  peak_viewers?: number;
  history: StreamSession[];
}

export interface EndAnswer {
  stream_id: string;
  status: 'ending';
}

export interface RecordingAnswer {
  stream_id: string;
  recording: boolean;
}

export interface ArchiveAnswer {
  stream_id: string;
  archive_vod_job_id: string;
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
  /** ends the running publish (202; the stream.ended event follows) */
  end: (id: string) => request<EndAnswer>(`${path(id)}/end`, { method: 'POST', body: {} }),
  /** starts or stops recording the running publish */
  setRecording: (id: string, enabled: boolean) =>
    request<RecordingAnswer>(`${path(id)}/recording`, { method: 'POST', body: { enabled } }),
  /** archives the newest recording into a VOD job */
  archive: (id: string) => request<ArchiveAnswer>(`${path(id)}/archive`, { method: 'POST', body: {} }),
  /** the live HLS: a media playlist, or a master one with a ladder (ABR) */
  liveUrl: (id: string) => `${path(id)}/live/index.m3u8`,
};
