// The live preview: /v1/streams/{id}/live/index.m3u8 through hls.js,
// loaded with import() only when a stream is on air (never in the first
// bundle). Every playlist and segment request of this origin carries the
// session's credentials, as the job player's do.

import { useEffect, useRef, useState } from 'react';
import { authHeaders, sameOrigin } from '../../api/detail';
import { streams } from '../../api/streams';
import { useT } from '../../i18n';

export function LivePreview({ id }: { id: string }) {
  const t = useT();
  const ref = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const video = ref.current;
    if (!video) return;
    let dead = false;
    let destroy: (() => void) | null = null;
    void (async () => {
      try {
        const { default: Hls } = await import('hls.js');
        if (dead || !Hls.isSupported()) return;
        const headers = authHeaders();
        const hls = new Hls({
          enableWorker: false, // the CSP allows no blob: workers
          lowLatencyMode: true,
          xhrSetup: (xhr, u) => {
            if (!xhr.readyState) xhr.open('GET', u, true);
            if (sameOrigin(u)) for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
          },
        });
        hls.on(Hls.Events.ERROR, (_e, d) => {
          if (d.fatal) setError(`${d.type}: ${d.details}`);
        });
        hls.loadSource(streams.liveUrl(id));
        hls.attachMedia(video);
        destroy = () => hls.destroy();
      } catch (e) {
        if (!dead) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      dead = true;
      destroy?.();
    };
  }, [id]);

  return (
    <section className="card" data-testid="stream-preview">
      <h2>{t('streams.preview')}</h2>
      <video ref={ref} className="stream-video" muted autoPlay playsInline controls />
      {error && (
        <p className="alert" role="alert">
          {t('streams.previewError', { message: error })}
        </p>
      )}
    </section>
  );
}
