// The job's player: a final MP4/WebM in the <video> itself, an HLS master
// through hls.js and a DASH manifest through dash.js, both loaded with
// import() so they never weigh on the dashboard's first load (this module is
// itself a lazy chunk). Every request carries the session's credentials: a
// media element cannot send an Authorization header, so a final file and
// the poster are fetched into blob: URLs (the CSP allows blob: media and
// images), and the players add the header to each playlist, key and
// segment request of this origin (the AES-128 key URI the playlists name
// is /v1/jobs/{id}/key, same origin). Own controls, so the seek bar can
// show the storyboard's sprite tile for the time under the pointer.

import { Pause, Play, Volume2, VolumeX } from 'lucide-react';
import { useEffect, useMemo, useRef, useState, type PointerEvent as RPointerEvent } from 'react';
import type { Output } from '../../api';
import { authHeaders, fetchBlob, fetchText, outputPath, sameOrigin } from '../../api/detail';
import { useT } from '../../i18n';
import { formatDuration } from '../format';
import { cueAt, parseStoryboard, type StoryboardCue } from './storyboard';
import '../../styles/detail.css';

type Kind = 'file' | 'hls' | 'dash';
interface Source {
  kind: Kind;
  name: string;
  size: number;
}
interface Level {
  key: string;
  label: string;
}
interface Control {
  setLevel(key: string): void;
}

// a final bigger than this is offered for download, not loaded into memory
const MAX_BLOB_BYTES = 512 * 1024 * 1024;
// a final up to this size is fetched when the page opens; a bigger one only
// once the user presses play
const EAGER_BLOB_BYTES = 64 * 1024 * 1024;

function pickSources(outputs: Output[]): Source[] {
  const out: Source[] = [];
  for (const o of outputs) {
    const n = o.name.toLowerCase();
    if (o.type === 'manifest' && n.endsWith('.m3u8')) out.push({ kind: 'hls', name: o.name, size: o.size_bytes });
    else if (o.type === 'manifest' && n.endsWith('.mpd')) out.push({ kind: 'dash', name: o.name, size: o.size_bytes });
    else if (o.type === 'final' && (n.endsWith('.mp4') || n.endsWith('.webm') || n.endsWith('.m4v')) && o.size_bytes <= MAX_BLOB_BYTES)
      out.push({ kind: 'file', name: o.name, size: o.size_bytes });
  }
  // a plain file first: it needs no player library
  const order: Record<Kind, number> = { file: 0, hls: 1, dash: 2 };
  return out.sort((a, b) => order[a.kind] - order[b.kind]);
}

function levelLabel(height: number | undefined, bitrate: number | undefined): string {
  const kbps = bitrate ? `${Math.round(bitrate / 1000)} kbps` : '';
  return height ? `${height}p${kbps ? ` · ${kbps}` : ''}` : kbps || '?';
}

/** Loads a protected image into a blob: URL, revoked on unmount. */
function useBlobUrl(url: string | null): string | null {
  const [obj, setObj] = useState<string | null>(null);
  useEffect(() => {
    if (!url) return;
    const ac = new AbortController();
    let made: string | null = null;
    fetchBlob(url, ac.signal).then(
      (b) => {
        made = URL.createObjectURL(b);
        setObj(made);
      },
      () => undefined, // no poster or sprite: the player works without
    );
    return () => {
      ac.abort();
      if (made) URL.revokeObjectURL(made);
      setObj(null);
    };
  }, [url]);
  return obj;
}

export default function Player({ jobId, outputs }: { jobId: string; outputs: Output[] }) {
  const t = useT();
  // the player is not rebuilt when the locale changes
  const tRef = useRef(t);
  tRef.current = t;
  const sources = useMemo(() => pickSources(outputs), [outputs]);
  const [sel, setSel] = useState(0);
  const src = sources[sel] ?? sources[0];
  const videoRef = useRef<HTMLVideoElement>(null);
  const control = useRef<Control | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [level, setLevel] = useState('');
  const [active, setActive] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [errorCount, setErrorCount] = useState(0);
  const [ready, setReady] = useState(false);
  const [playing, setPlaying] = useState(false);
  const [muted, setMuted] = useState(false);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState(0);
  const eager = !src || src.kind !== 'file' || src.size <= EAGER_BLOB_BYTES;
  // the source the user pressed play on, when it was not loaded eagerly
  const [armedFor, setArmedFor] = useState<string | null>(null);
  const armed = eager || armedFor === src?.name;
  const playWhenReady = useRef(false);

  const names = useMemo(() => new Set(outputs.map((o) => o.name)), [outputs]);
  const posterName = names.has('thumbnails/poster.jpg') ? 'thumbnails/poster.jpg' : null;
  const poster = useBlobUrl(posterName ? outputPath(jobId, posterName) : null);
  const storyboardName = outputs.find((o) => o.name.endsWith('storyboard.vtt'))?.name ?? null;
  const [cues, setCues] = useState<StoryboardCue[]>([]);
  useEffect(() => {
    if (!storyboardName) return;
    const ac = new AbortController();
    fetchText(outputPath(jobId, storyboardName), ac.signal).then(
      (text) => setCues(parseStoryboard(text, storyboardName)),
      () => undefined,
    );
    return () => ac.abort();
  }, [jobId, storyboardName]);
  const spriteName = cues[0]?.image ?? null;
  const sprite = useBlobUrl(spriteName ? outputPath(jobId, spriteName) : null);

  useEffect(() => {
    const video = videoRef.current;
    if (!video || !src || !armed) return;
    let dead = false;
    let cleanup: (() => void) | null = null;
    control.current = null;
    setLevels([]);
    setLevel('');
    setActive(null);
    setError(null);
    setReady(false);
    const fail = (msg: string) => {
      if (dead) return;
      setError(msg);
      setErrorCount((n) => n + 1);
    };
    const url = outputPath(jobId, src.name);
    const headers = authHeaders();
    (async () => {
      if (src.kind === 'file') {
        const blob = await fetchBlob(url);
        if (dead) return;
        const obj = URL.createObjectURL(blob);
        video.src = obj;
        cleanup = () => {
          video.removeAttribute('src');
          video.load();
          URL.revokeObjectURL(obj);
        };
      } else if (src.kind === 'hls') {
        const { default: Hls } = await import('hls.js');
        if (dead) return;
        if (!Hls.isSupported()) throw new Error(tRef.current('detail.player.unsupported'));
        const hls = new Hls({
          // the CSP allows no blob: workers; transmuxing on the main thread
          // is fine for one player
          enableWorker: false,
          xhrSetup: (xhr, u) => {
            // headers can be set only on an opened request; hls.js opens it
            // itself only when xhrSetup left it unopened
            if (!xhr.readyState) xhr.open('GET', u, true);
            if (sameOrigin(u)) for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
          },
          fetchSetup: (context, init) => {
            const h = new Headers(init.headers ?? {});
            if (sameOrigin(context.url)) for (const [k, v] of Object.entries(headers)) h.set(k, v);
            return new Request(context.url, { ...init, headers: h });
          },
        });
        hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) =>
          setLevels(d.levels.map((l, i) => ({ key: String(i), label: levelLabel(l.height, l.bitrate) }))),
        );
        hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => setActive(String(d.level)));
        hls.on(Hls.Events.ERROR, (_e, d) => {
          // a stall the player recovers from on its own is not an error
          if (d.fatal) fail(`hls: ${d.type}: ${d.details}`);
        });
        hls.loadSource(url);
        hls.attachMedia(video);
        control.current = {
          setLevel: (key) => {
            hls.currentLevel = key === '' ? -1 : Number(key);
            if (key === '') hls.nextLevel = -1;
          },
        };
        cleanup = () => hls.destroy();
      } else {
        const dashjs = await import('dashjs');
        if (dead) return;
        const player = dashjs.MediaPlayer().create();
        player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_ERROR } });
        player.addRequestInterceptor((req) => {
          if (sameOrigin(req.url)) req.headers = { ...(req.headers ?? {}), ...headers };
          return Promise.resolve(req);
        });
        const E = dashjs.MediaPlayer.events;
        player.on(E.STREAM_INITIALIZED, () => {
          const reps = player.getRepresentationsByType('video') ?? [];
          setLevels(reps.map((r) => ({ key: r.id, label: levelLabel(r.height, r.bandwidth) })));
          const cur = player.getCurrentRepresentationForType('video');
          if (cur) setActive(cur.id);
        });
        player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
          if (e.mediaType === 'video' && e.newRepresentation) setActive(e.newRepresentation.id);
        });
        player.on(E.ERROR, (e) => {
          const err = (e as { error?: { code?: number; message?: string } }).error ?? {};
          fail(`dash: ${err.code ?? '?'}: ${err.message ?? ''}`);
        });
        player.on(E.PLAYBACK_ERROR, () => fail('dash: playback'));
        player.initialize(video, url, false);
        control.current = {
          setLevel: (key) => {
            const auto = key === '';
            player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
            if (!auto) player.setRepresentationForTypeById('video', key, true);
          },
        };
        cleanup = () => player.destroy();
      }
    })().catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
    return () => {
      dead = true;
      cleanup?.();
      control.current = null;
    };
  }, [jobId, src, armed]);

  // the element's own state drives the controls
  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    const sync = () => {
      setTime(v.currentTime);
      setDuration(Number.isFinite(v.duration) ? v.duration : 0);
      setPlaying(!v.paused && !v.ended);
      setMuted(v.muted);
    };
    const onReady = () => {
      setReady(true);
      sync();
      if (playWhenReady.current) {
        playWhenReady.current = false;
        v.play().catch(() => undefined);
      }
    };
    const onError = () => {
      const e = v.error;
      if (e) {
        setError(`media: ${e.code}: ${e.message}`);
        setErrorCount((n) => n + 1);
      }
    };
    const evs = ['timeupdate', 'durationchange', 'play', 'pause', 'ended', 'volumechange', 'seeked'];
    evs.forEach((n) => v.addEventListener(n, sync));
    v.addEventListener('loadedmetadata', onReady);
    v.addEventListener('error', onError);
    return () => {
      evs.forEach((n) => v.removeEventListener(n, sync));
      v.removeEventListener('loadedmetadata', onReady);
      v.removeEventListener('error', onError);
    };
  }, []);

  if (!src) return <p className="muted">{t('detail.player.none')}</p>;

  const toggle = () => {
    const v = videoRef.current;
    if (!v) return;
    if (!armed) {
      playWhenReady.current = true;
      setArmedFor(src.name);
      return;
    }
    if (v.paused || v.ended) v.play().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    else v.pause();
  };
  const total = duration || (cues.length ? cues[cues.length - 1]!.end : 0);
  const kindLabel = (s: Source) => `${t(`detail.player.kind.${s.kind}`)} · ${s.name}`;

  return (
    <div
      className="player"
      data-testid="player"
      data-kind={src.kind}
      data-ready={ready}
      data-errors={errorCount}
      data-level={active ?? ''}
    >
      <div className="player-toolbar">
        <label className="inline-field">
          <span>{t('detail.player.source')}</span>
          <select value={sel} onChange={(e) => setSel(Number(e.target.value))} data-testid="player-source">
            {sources.map((s, i) => (
              <option key={s.name} value={i} data-kind={s.kind}>
                {kindLabel(s)}
              </option>
            ))}
          </select>
        </label>
        {levels.length > 0 && (
          <label className="inline-field">
            <span>{t('detail.player.rendition')}</span>
            <select
              value={level}
              onChange={(e) => {
                setLevel(e.target.value);
                control.current?.setLevel(e.target.value);
              }}
              data-testid="player-rendition"
            >
              <option value="">
                {t('detail.player.auto')}
                {active != null && level === '' ? ` (${levels.find((l) => l.key === active)?.label ?? ''})` : ''}
              </option>
              {levels.map((l) => (
                <option key={l.key} value={l.key}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <div className="player-stage">
        <video
          ref={videoRef}
          className="player-video"
          playsInline
          poster={poster ?? undefined}
          onClick={toggle}
          data-testid="player-video"
        />
      </div>
      <div className="player-controls">
        <button className="icon-button" onClick={toggle} data-testid="player-play" aria-label={t(playing ? 'detail.player.pause' : 'detail.player.play')}>
          {playing ? <Pause size={16} aria-hidden /> : <Play size={16} aria-hidden />}
        </button>
        <SeekBar
          time={time}
          duration={total}
          cues={cues}
          sprite={sprite}
          label={t('detail.player.seek')}
          onSeek={(s) => {
            const v = videoRef.current;
            if (v) v.currentTime = s;
            setTime(s);
          }}
        />
        <span className="player-time mono small" data-testid="player-time">
          {formatDuration(time)} / {formatDuration(total)}
        </span>
        <button
          className="icon-button"
          onClick={() => {
            const v = videoRef.current;
            if (v) v.muted = !v.muted;
          }}
          aria-label={t(muted ? 'detail.player.unmute' : 'detail.player.mute')}
        >
          {muted ? <VolumeX size={16} aria-hidden /> : <Volume2 size={16} aria-hidden />}
        </button>
      </div>
      {error && (
        <div className="alert small" role="alert" data-testid="player-error">
          {t('detail.player.error', { message: error })}
        </div>
      )}
    </div>
  );
}

function SeekBar({
  time,
  duration,
  cues,
  sprite,
  label,
  onSeek,
}: {
  time: number;
  duration: number;
  cues: StoryboardCue[];
  sprite: string | null;
  label: string;
  onSeek: (s: number) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<{ t: number; px: number; width: number } | null>(null);
  const dragging = useRef(false);

  const at = (e: RPointerEvent<HTMLDivElement>) => {
    const r = ref.current!.getBoundingClientRect();
    const px = Math.max(0, Math.min(r.width, e.clientX - r.left));
    return { t: r.width > 0 ? (px / r.width) * duration : 0, px, width: r.width };
  };
  const cue = hover ? cueAt(cues, hover.t) : undefined;
  const frac = duration > 0 ? Math.min(1, time / duration) : 0;

  return (
    <div
      ref={ref}
      className="seek"
      role="slider"
      tabIndex={0}
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={Math.round(duration)}
      aria-valuenow={Math.round(time)}
      data-testid="player-seek"
      onPointerDown={(e) => {
        if (!duration) return;
        dragging.current = true;
        e.currentTarget.setPointerCapture(e.pointerId);
        const h = at(e);
        setHover(h);
        onSeek(h.t);
      }}
      onPointerMove={(e) => {
        if (!duration) return;
        const h = at(e);
        setHover(h);
        if (dragging.current) onSeek(h.t);
      }}
      onPointerUp={() => {
        dragging.current = false;
      }}
      onPointerLeave={() => {
        if (!dragging.current) setHover(null);
      }}
      onKeyDown={(e) => {
        if (e.key === 'ArrowRight') onSeek(Math.min(duration, time + 5));
        else if (e.key === 'ArrowLeft') onSeek(Math.max(0, time - 5));
      }}
    >
      <div className="seek-track">
        <div className="seek-fill" style={{ width: `${frac * 100}%` }} />
      </div>
      {hover && (
        <div
          className="seek-hover"
          style={{ left: `${Math.max(0, Math.min(hover.width - (cue?.w ?? 0), hover.px - (cue?.w ?? 0) / 2))}px` }}
        >
          {cue && sprite && (
            <div
              className="seek-thumb"
              data-testid="scrub-thumb"
              data-time={hover.t.toFixed(3)}
              style={{
                width: cue.w,
                height: cue.h,
                backgroundImage: `url("${sprite}")`,
                backgroundPosition: `-${cue.x}px -${cue.y}px`,
              }}
            />
          )}
          <span className="seek-time mono small">{formatDuration(hover.t)}</span>
        </div>
      )}
    </div>
  );
}
