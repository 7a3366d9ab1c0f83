// The live preview: /v1/streams/{id}/live/index.m3u8 through hls.js,
// loaded with import() only when a stream is on air (never in the first
// bundle). Every playlist and segment request of this origin carries the
// session's credentials, read per request so a refreshed OIDC token is
// used. When the playlist is a master one (a stream with a ladder: live
// ABR), a picker offers its renditions besides the automatic choice.

import { useEffect, useRef, useState } from 'react';
import { authHeaders } from '../../api/client';
import { sameOrigin } from '../../api/detail';
import { streams } from '../../api/streams';
import { useT } from '../../i18n';

interface Rendition {
  index: number;
  label: string;
}

// The rung's name: NAME of the master playlist, else the folder of its
// media playlist (live/<rung>/index.m3u8), else its height.
function renditionLabel(level: { name?: string; url?: string | string[]; height?: number; bitrate?: number }, i: number): string {
  if (level.name) return level.name;
  const url = Array.isArray(level.url) ? level.url[0] : level.url;
  const m = url ? /\/live\/([A-Za-z0-9_]+)\/[^/]*$/.exec(new URL(url, location.href).pathname) : null;
  if (m?.[1]) return m[1];
  if (level.height) return `${level.height}p`;
  return String(i + 1);
}

/** `ready`: the live playlist exists (the page knows it from the
 * telemetry); before, a request for it would only fail. */
export function LivePreview({ id, ready }: { id: string; ready: boolean }) {
  const t = useT();
  const ref = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [renditions, setRenditions] = useState<Rendition[]>([]);
  const [choice, setChoice] = useState(-1);
  const [current, setCurrent] = useState<string | null>(null);
  const hlsRef = useRef<{ currentLevel: number } | null>(null);

  useEffect(() => {
    const video = ref.current;
    if (!video || !ready) return;
    let dead = false;
    let destroy: (() => void) | null = null;
    setError(null);
    void (async () => {
      try {
        const { default: Hls } = await import('hls.js');
        if (dead || !Hls.isSupported()) return;
        const hls = new Hls({
          enableWorker: false, // the CSP allows no blob: workers
          // plain HLS with 1 s segments (no LL-HLS parts): play 3 s behind
          // the live edge, catch up by playing a little faster when more
          // than that, jump back to the edge past 6 s
          lowLatencyMode: false,
          liveSyncDuration: 3,
          liveMaxLatencyDuration: 6,
          maxLiveSyncPlaybackRate: 1.25,
          maxBufferLength: 6,
          backBufferLength: 6,
          // a refresh must not wait long: a playlist lives for 1 s
          manifestLoadingRetryDelay: 500,
          levelLoadingRetryDelay: 500,
          fragLoadingRetryDelay: 500,
          xhrSetup: (xhr, u) => {
            if (!xhr.readyState) xhr.open('GET', u, true);
            if (sameOrigin(u)) for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
          },
        });
        hlsRef.current = hls;
        let retries = 0;
        hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
          setRenditions(d.levels.length > 1 ? d.levels.map((l, i) => ({ index: i, label: renditionLabel(l, i) })) : []);
          video.play().catch(() => undefined); // muted: autoplay is allowed
        });
        hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
          const l = hls.levels[d.level];
          setCurrent(l ? renditionLabel(l, d.level) : null);
        });
        hls.on(Hls.Events.FRAG_LOADED, () => {
          retries = 0;
        });
        hls.on(Hls.Events.ERROR, (_e, d) => {
          if (!d.fatal) return;
          // a live edge moves: a network hiccup is worth a few new tries,
          // a decode error a media recovery, anything else is shown
          if (d.type === Hls.ErrorTypes.NETWORK_ERROR && retries++ < 3) {
            setTimeout(() => !dead && hls.startLoad(), 1000);
          } else if (d.type === Hls.ErrorTypes.MEDIA_ERROR && retries++ < 3) {
            hls.recoverMediaError();
          } else {
            setError(`${d.type}: ${d.details}`);
          }
        });
        hls.loadSource(streams.liveUrl(id));
        hls.attachMedia(video);
        destroy = () => {
          hlsRef.current = null;
          hls.destroy();
        };
      } catch (e) {
        if (!dead) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      dead = true;
      destroy?.();
      setRenditions([]);
      setChoice(-1);
      setCurrent(null);
    };
  }, [id, ready]);

  const pick = (i: number) => {
    setChoice(i);
    if (hlsRef.current) hlsRef.current.currentLevel = i; // -1: automatic (ABR)
  };

  return (
    <section className="card" data-testid="stream-preview" data-ready={ready ? 'true' : 'false'}>
      <div className="page-head">
        <h2>{t('streams.preview')}</h2>
        <span className="spacer" />
        {renditions.length > 1 && (
          <label className="stream-rendition">
            {t('streams.rendition')}
            <select value={choice} onChange={(e) => pick(Number(e.target.value))} data-testid="preview-rendition">
              <option value={-1}>{current && choice < 0 ? t('streams.rendition.autoNow', { name: current }) : t('streams.rendition.auto')}</option>
              {renditions.map((r) => (
                <option key={r.index} value={r.index}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <video ref={ref} className="stream-video" muted autoPlay playsInline controls data-testid="preview-video" />
      {!ready && <p className="muted">{t('streams.previewWaiting')}</p>}
      {error && (
        <p className="alert" role="alert" data-testid="preview-error">
          {t('streams.previewError', { message: error })}
        </p>
      )}
    </section>
  );
}
