// Client-side checks of a profile, a copy of the rules of src/sdk/we-profile.c
// (docs/api.md, "Profiles"): they catch a mistake before the round trip; the
// server's 400 WE-JOB-003 stays the last word and is shown the same way.

import type { Profile } from '../../api/wizard';
import type { MessageKey, TFunction } from '../../i18n';

export type FieldErrors = Record<string, string>;

const ID_RE = /^[a-z0-9_-]{1,64}$/;
const RUNG_RE = /^[a-z0-9_-]{1,32}$/;

/** Every member path → message for what breaks a rule; empty when fine. */
export function validateProfile(p: Profile, t: TFunction, opts: { checkId?: boolean } = {}): FieldErrors {
  const e: FieldErrors = {};
  const put = (path: string, key: MessageKey, vars?: Record<string, string | number>) => {
    if (!(path in e)) e[path] = t(key, vars);
  };
  const range = (path: string, v: number, min: number, max: number) => {
    if (!Number.isFinite(v) || v < min || v > max) put(path, 'profiles.v.range', { min, max });
  };
  const even = (path: string, v: number) => {
    if (Number.isFinite(v) && v % 2 !== 0) put(path, 'profiles.v.even');
  };

  if (opts.checkId && !ID_RE.test(p.id)) put('id', 'profiles.v.id');
  if (p.name.length < 1 || p.name.length > 128) put('name', 'profiles.v.name');
  if (p.description.length > 1024) put('description', 'profiles.v.description');

  range('width', p.width, 16, 7680);
  range('height', p.height, 16, 4320);
  even('width', p.width);
  even('height', p.height);
  range('video_bitrate_kbps', p.video_bitrate_kbps, 0, 200000);
  range('max_bitrate_kbps', p.max_bitrate_kbps, 0, 250000);
  if (p.max_bitrate_kbps > 0 && p.max_bitrate_kbps < p.video_bitrate_kbps) put('max_bitrate_kbps', 'profiles.v.maxBitrate');
  range('buffer_kbps', p.buffer_kbps, 0, 500000);
  range('crf', p.crf, 0, 63);
  range('keyframe_interval_s', p.keyframe_interval_s, 1, 20);
  if (p.audio_codec !== 'none') {
    range('audio_bitrate_kbps', p.audio_bitrate_kbps, 8, 512);
    range('audio_channels', p.audio_channels, 1, 8);
  }
  if (p.audio_codec === 'opus' && ![8000, 16000, 24000, 48000].includes(p.audio_sample_rate))
    put('audio_sample_rate', 'profiles.v.opusRate');
  if (p.container === 'webm') {
    if (p.video_codec !== 'vp9' && p.video_codec !== 'av1') put('container', 'profiles.v.webmVideo');
    else if (p.audio_codec === 'aac') put('container', 'profiles.v.webmAudio');
  }
  range('max_attempts', p.max_attempts, 1, 10);
  const { segment_min_s: lo, segment_target_s: mid, segment_max_s: hi } = p;
  if (!(lo > 0 && lo <= mid && mid <= hi && hi <= 3600)) put('segment_target_s', 'profiles.v.segments');

  if (p.ladder.length > 8) put('ladder', 'profiles.v.ladderMax');
  const names = new Set<string>();
  p.ladder.forEach((r, i) => {
    const at = `ladder[${i}]`;
    if (!RUNG_RE.test(r.name)) put(`${at}.name`, 'profiles.v.rungName');
    else if (names.has(r.name)) put(`${at}.name`, 'profiles.v.rungUnique');
    names.add(r.name);
    range(`${at}.width`, r.width, 16, 7680);
    range(`${at}.height`, r.height, 16, 4320);
    even(`${at}.width`, r.width);
    even(`${at}.height`, r.height);
    range(`${at}.video_bitrate_kbps`, r.video_bitrate_kbps, 1, 200000);
    if (r.max_bitrate_kbps !== 0 && r.max_bitrate_kbps < r.video_bitrate_kbps)
      put(`${at}.max_bitrate_kbps`, 'profiles.v.maxBitrate');
    if (!(p.audio_codec === 'none' && r.audio_bitrate_kbps === 0)) range(`${at}.audio_bitrate_kbps`, r.audio_bitrate_kbps, 8, 512);
  });
  if (p.ladder.length > 0 && !p.ladder.some((r) => r.enabled)) put('ladder', 'profiles.v.noEnabledRung');

  range('hls.segment_duration_s', p.hls.segment_duration_s, 1, 30);
  range('dash.segment_duration_s', p.dash.segment_duration_s, 1, 30);
  if (p.hls.encryption !== 'none' && !p.hls.enabled) put('hls.encryption', 'profiles.v.encryptionNeedsHls');
  if (p.hls.encryption !== 'none' && p.dash.enabled) put('hls.encryption', 'profiles.v.encryptionNoDash');
  if (p.hls.enabled && p.hls.segment_type === 'ts' && (p.video_codec !== 'h264' || p.audio_codec === 'opus'))
    put('hls.segment_type', 'profiles.v.tsCodecs');

  range('thumbnails.interval_s', p.thumbnails.interval_s, 0, 3600);
  range('thumbnails.width', p.thumbnails.width, 16, 3840);
  even('thumbnails.width', p.thumbnails.width);
  range('thumbnails.sprite_columns', p.thumbnails.sprite_columns, 1, 20);
  if (p.thumbnails.sprite && !(p.thumbnails.interval_s > 0)) put('thumbnails.sprite', 'profiles.v.spriteNeedsInterval');
  if (p.thumbnails.storyboard && !p.thumbnails.sprite) put('thumbnails.storyboard', 'profiles.v.storyboardNeedsSprite');

  if (p.subtitles.mode === 'extract' && p.subtitles.formats.length === 0) put('subtitles.formats', 'profiles.v.extractNeedsFormat');
  range('subtitles.burn_track', p.subtitles.burn_track, 0, 63);

  if (p.audio.normalize_lufs !== null) {
    range('audio.normalize_lufs', p.audio.normalize_lufs, -70, -5);
    if (p.audio.passthrough_when_compatible) put('audio.normalize_lufs', 'profiles.v.normalizePassthrough');
  }
  if (p.audio_codec === 'none' && (p.audio.normalize_lufs !== null || p.audio.keep_all_tracks))
    put(p.audio.normalize_lufs !== null ? 'audio.normalize_lufs' : 'audio.keep_all_tracks', 'profiles.v.needsAudio');
  return e;
}

/** Sets a member by its path ("hls.enabled", "ladder[2].enabled") in a copy. */
export function setIn<T>(obj: T, path: string, value: unknown): T {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  const root: unknown = Array.isArray(obj) ? [...obj] : { ...(obj as object) };
  let cur = root as Record<string, unknown>;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i] as string;
    const next = cur[k];
    const copy = Array.isArray(next) ? [...next] : { ...(next as object) };
    cur[k] = copy;
    cur = copy as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = value;
  return root as T;
}

/** Reads a member by its path. */
export function getIn(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.replace(/\[(\d+)\]/g, '.$1').split('.')) {
    if (cur == null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
