// The REST calls of the new-job wizard and the profiles pages (docs/api.md:
// "Profiles", "POST /v1/jobs", "Files"), typed.

import { authHeaders, envelopeError, request, ApiError } from './client';
import type { Job } from './types';

export type VideoCodec = 'h264' | 'hevc' | 'vp9' | 'av1';
export type Container = 'mp4' | 'mkv' | 'webm';
export type AudioCodec = 'aac' | 'opus' | 'none';

export const VIDEO_CODECS: readonly VideoCodec[] = ['h264', 'hevc', 'vp9', 'av1'];
export const CONTAINERS: readonly Container[] = ['mp4', 'mkv', 'webm'];
export const AUDIO_CODECS: readonly AudioCodec[] = ['aac', 'opus', 'none'];
export const PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const;
export const SAMPLE_RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000] as const;
export const SUBTITLE_MODES = ['none', 'passthrough', 'extract', 'burn'] as const;

export interface Rung {
  name: string;
  width: number;
  height: number;
  video_bitrate_kbps: number;
  max_bitrate_kbps: number;
  audio_bitrate_kbps: number;
  enabled: boolean;
}

export interface Profile {
  id: string;
  name: string;
  description: string;
  container: Container;
  video_codec: VideoCodec;
  width: number;
  height: number;
  pad: boolean;
  video_bitrate_kbps: number;
  max_bitrate_kbps: number;
  buffer_kbps: number;
  crf: number;
  preset: (typeof PRESETS)[number];
  keyframe_interval_s: number;
  bit_depth: number;
  audio_codec: AudioCodec;
  audio_bitrate_kbps: number;
  audio_sample_rate: number;
  audio_channels: number;
  prefer_hardware: boolean;
  max_attempts: number;
  segment_target_s: number;
  segment_min_s: number;
  segment_max_s: number;
  ladder: Rung[];
  hls: { enabled: boolean; segment_duration_s: number; segment_type: 'ts' | 'fmp4'; encryption: 'none' | 'aes-128' };
  dash: { enabled: boolean; segment_duration_s: number };
  thumbnails: {
    poster: boolean;
    interval_s: number;
    width: number;
    sprite: boolean;
    sprite_columns: number;
    storyboard: boolean;
  };
  subtitles: { mode: (typeof SUBTITLE_MODES)[number]; formats: string[]; burn_track: number };
  audio: { passthrough_when_compatible: boolean; normalize_lufs: number | null; keep_all_tracks: boolean };
  builtin: boolean;
}

/** The defaults a member takes when a body leaves it out (docs/api.md). */
export function defaultProfile(id = ''): Profile {
  return {
    id,
    name: id,
    description: '',
    container: 'mp4',
    video_codec: 'h264',
    width: 1280,
    height: 720,
    pad: false,
    video_bitrate_kbps: 2500,
    max_bitrate_kbps: 0,
    buffer_kbps: 0,
    crf: 23,
    preset: 'fast',
    keyframe_interval_s: 2,
    bit_depth: 8,
    audio_codec: 'aac',
    audio_bitrate_kbps: 128,
    audio_sample_rate: 48000,
    audio_channels: 2,
    prefer_hardware: false,
    max_attempts: 3,
    segment_target_s: 30,
    segment_min_s: 10,
    segment_max_s: 120,
    ladder: [],
    hls: { enabled: false, segment_duration_s: 6, segment_type: 'ts', encryption: 'none' },
    dash: { enabled: false, segment_duration_s: 6 },
    thumbnails: { poster: false, interval_s: 0, width: 320, sprite: false, sprite_columns: 10, storyboard: false },
    subtitles: { mode: 'none', formats: ['vtt'], burn_track: 0 },
    audio: { passthrough_when_compatible: false, normalize_lufs: null, keep_all_tracks: false },
    builtin: false,
  };
}

/** A profile as the API sent it, with any member it lacks (an older
 * server) filled from the defaults, so the forms never see undefined. */
export function normalizeProfile(p: Partial<Profile>): Profile {
  const d = defaultProfile(p.id ?? '');
  return {
    ...d,
    ...p,
    ladder: (p.ladder ?? []).map((r) => ({ ...newRung(), ...r })),
    hls: { ...d.hls, ...p.hls },
    dash: { ...d.dash, ...p.dash },
    thumbnails: { ...d.thumbnails, ...p.thumbnails },
    subtitles: { ...d.subtitles, ...p.subtitles },
    audio: { ...d.audio, ...p.audio },
  } as Profile;
}

export function newRung(): Rung {
  return {
    name: '',
    width: 1280,
    height: 720,
    video_bitrate_kbps: 2500,
    max_bitrate_kbps: 0,
    audio_bitrate_kbps: 128,
    enabled: true,
  };
}

/** What a write sends: everything but the read-only `builtin`. */
export function profileBody(p: Profile): Omit<Profile, 'builtin'> {
  const { builtin: _builtin, ...rest } = p;
  return rest;
}

export interface FileRoot {
  plugin_id: string;
  name: string;
  path: string;
  url?: string;
  storage_type?: string;
}

export interface BrowseEntry {
  name: string;
  path: string;
  url?: string;
  is_directory: boolean;
  size?: number;
  mod_time?: number | string;
  extension?: string;
  is_video?: boolean;
  is_audio?: boolean;
  is_image?: boolean;
}

export interface BrowseResult {
  plugin_id: string;
  current_path: string;
  parent_path?: string | null;
  entries: BrowseEntry[];
}

export interface Capability {
  plugin_id: string;
  storage_type: string;
  supports_browse: boolean;
  supports_upload: boolean;
}

export interface Uploaded {
  plugin_id: string;
  url: string;
  object_key: string;
  size: number;
  etag?: string;
}

/** The body of POST /v1/jobs the wizard sends (src/core/we-job-request.c). */
export interface JobRequest {
  source_url: string;
  profile?: string;
  profile_overrides?: Partial<Omit<Profile, 'id' | 'builtin'>>;
  custom_profile?: Omit<Profile, 'builtin'>;
  output_url?: string;
  priority?: number;
}

const enc = encodeURIComponent;

export const wizardApi = {
  profiles: () => request<{ profiles: Profile[] }>('/v1/profiles').then((r) => r.profiles.map(normalizeProfile)),
  profile: (id: string) => request<Profile>(`/v1/profiles/${enc(id)}`).then(normalizeProfile),
  createProfile: (p: Profile) => request<Profile>('/v1/profiles', { method: 'POST', body: profileBody(p) }),
  updateProfile: (p: Profile) => request<Profile>(`/v1/profiles/${enc(p.id)}`, { method: 'PUT', body: profileBody(p) }),
  deleteProfile: (id: string) => request<void>(`/v1/profiles/${enc(id)}`, { method: 'DELETE' }),
  duplicateProfile: (id: string, body?: { id?: string; name?: string }) =>
    request<Profile>(`/v1/profiles/${enc(id)}/duplicate`, { method: 'POST', body: body ?? {} }),
  capabilities: () => request<Capability[]>('/v1/files/capabilities'),
  roots: () => request<FileRoot[]>('/v1/files/roots'),
  browse: (plugin: string, path: string) =>
    request<BrowseResult>('/v1/files/browse', { query: { plugin, path, media_only: 'true' } }),
};

/** POST /v1/jobs with an Idempotency-Key: the same key twice (a double
 * click, a retry after a lost answer) gives the same job. */
export function submitJob(body: JobRequest, idempotencyKey: string): Promise<Job> {
  return request<Job>('/v1/jobs', { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } });
}

export interface UploadHandle {
  done: Promise<Uploaded>;
  abort: () => void;
}

/** Streams a file to POST /v1/files/upload (multipart, the file part last)
 * with XMLHttpRequest, whose upload.onprogress fetch cannot give. */
export function uploadFile(file: File, onProgress: (loaded: number, total: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<Uploaded>((resolve, reject) => {
    xhr.open('POST', '/v1/files/upload');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status === 201 || xhr.status === 200) {
        onProgress(file.size, file.size);
        resolve(JSON.parse(xhr.responseText) as Uploaded);
      } else reject(envelopeError(xhr.status, xhr.responseText, xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'WE-NET-000', 'network error'));
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/** The member a §11 `details` names, e.g. "hls.segment_duration_s must be
 * between 1 and 30" → "hls.segment_duration_s", "ladder[1].name …" →
 * "ladder[1].name"; a custom profile's are prefixed "custom_profile: ". */
export function errorField(e: unknown): string | null {
  if (!(e instanceof ApiError)) return null;
  const text = (e.details || e.message || '').replace(/^custom_profile:\s*/, '');
  const m = text.match(/^(?:(?:unknown )?profile field ")?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)/);
  return m ? m[1] ?? null : null;
}

/** The text to show for an API error: the details when it has them. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.details ? `${e.message}: ${e.details}` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/** A resolution's short name, e.g. 1280x720 → "720p". */
export function resolutionLabel(w: number, h: number): string {
  return `${w}×${h}`;
}
