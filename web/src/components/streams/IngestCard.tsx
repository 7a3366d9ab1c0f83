// The studio's ingest settings, the way OBS asks for them (Server, Stream
// Key) and ffmpeg (the SRT URL). The key stays masked with its hint until
// an operator reveals it (POST reveal-key, audited); a revealed key lives
// only in this component's state and is hidden again after 60 s or when the
// page is left. Rotating shows the new key once, in a dialog.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Eye, EyeOff, RefreshCw } from 'lucide-react';
import { useEffect, useState } from 'react';
import { streams, type Stream, type StreamWithKey } from '../../api/streams';
import { useCan } from '../../auth/Can';
import { useT } from '../../i18n';
import { ConfirmDialog, Dialog } from '../ops/Dialog';
import { ApiErrorLine } from '../settings/ApiErrorLine';
import { CopyField } from './CopyField';
import { recalledIngest, rememberIngest, type PublicIngest } from './ingest';

export const REVEAL_MS = 60_000;

export function IngestCard({ stream }: { stream: Stream }) {
  const t = useT();
  const qc = useQueryClient();
  const canReveal = useCan('stream.reveal');
  const canRotate = useCan('stream.rotate');
  const [pub, setPub] = useState<PublicIngest | null>(() =>
    stream.ingest
      ? { rtmp_server: stream.ingest.rtmp.server, srt_base: stream.ingest.srt.url, latency_ms: stream.ingest.srt.latency_ms }
      : recalledIngest(stream.id),
  );
  const [revealed, setRevealed] = useState<StreamWithKey | null>(null);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const [rotated, setRotated] = useState<StreamWithKey | null>(null);

  // a revealed key goes away by itself after a minute
  useEffect(() => {
    if (!revealed) return;
    const timer = setTimeout(() => setRevealed(null), REVEAL_MS);
    return () => clearTimeout(timer);
  }, [revealed]);

  const reveal = useMutation({
    mutationFn: () => streams.revealKey(stream.id),
    onSuccess: (s) => {
      setPub(rememberIngest(stream.id, s.ingest));
      setRevealed(s);
    },
  });
  const rotate = useMutation({
    mutationFn: () => streams.rotateKey(stream.id),
    onSuccess: (s) => {
      setConfirmRotate(false);
      setRevealed(null); // the old key is dead: never show it again
      setPub(rememberIngest(stream.id, s.ingest));
      setRotated(s);
      qc.setQueryData(['stream', stream.id], (old: Stream | undefined) =>
        old ? { ...old, stream_key_hint: s.stream_key_hint, updated_at: s.updated_at } : old,
      );
    },
  });

  const hint = (revealed ?? stream).stream_key_hint ?? '????';
  const masked = t('streams.ingest.masked', { hint });
  return (
    <section className="card stream-ingest" data-testid="stream-ingest">
      <h2>{t('streams.ingest')}</h2>
      <p className="muted small">{t('streams.ingest.help')}</p>
      <CopyField
        label={t('streams.ingest.rtmpServer')}
        value={pub?.rtmp_server ?? null}
        display="—"
        testid="ingest-rtmp-server"
      />
      <CopyField
        label={t('streams.ingest.streamKey')}
        value={revealed ? revealed.stream_key : null}
        display={masked}
        testid="ingest-stream-key"
        extra={
          canReveal &&
          (revealed ? (
            <button type="button" className="button" onClick={() => setRevealed(null)} data-testid="ingest-hide">
              <EyeOff size={16} aria-hidden /> {t('streams.hide')}
            </button>
          ) : (
            <button
              type="button"
              className="button"
              onClick={() => reveal.mutate()}
              disabled={reveal.isPending}
              data-testid="ingest-reveal"
            >
              <Eye size={16} aria-hidden /> {t('streams.reveal')}
            </button>
          ))
        }
      />
      <CopyField
        label={t('streams.ingest.srtUrl')}
        value={revealed ? revealed.ingest.srt.url : null}
        display={pub ? `${pub.srt_base}&passphrase=••••••••` : '—'}
        testid="ingest-srt-url"
      />
      {revealed ? (
        <p className="muted small" data-testid="ingest-reveal-note">
          {t('streams.revealNote')}
        </p>
      ) : (
        !pub && <p className="muted small">{t('streams.ingest.srtHidden')}</p>
      )}
      <ApiErrorLine error={reveal.error} testid="ingest-error" />
      {canRotate && (
        <div className="stream-actions">
          <button type="button" className="button" onClick={() => setConfirmRotate(true)} data-testid="ingest-rotate">
            <RefreshCw size={16} aria-hidden /> {t('streams.rotate')}
          </button>
        </div>
      )}
      {confirmRotate && (
        <ConfirmDialog
          title={t('streams.rotate')}
          message={t('streams.rotateConfirm')}
          confirmLabel={t('streams.rotate')}
          danger
          busy={rotate.isPending}
          onConfirm={() => rotate.mutate()}
          onClose={() => {
            setConfirmRotate(false);
            rotate.reset();
          }}
        >
          <ApiErrorLine error={rotate.error} testid="rotate-error" />
        </ConfirmDialog>
      )}
      {rotated && (
        <Dialog
          title={t('streams.rotated')}
          onClose={() => setRotated(null)}
          testid="stream-rotated"
          wide
          footer={
            <>
              <span className="spacer" />
              <button type="button" className="button primary" onClick={() => setRotated(null)} data-testid="rotated-done">
                {t('streams.done')}
              </button>
            </>
          }
        >
          <p className="warn-box" role="status">
            {t('streams.rotatedNote')}
          </p>
          <CopyField label={t('streams.ingest.streamKey')} value={rotated.stream_key} testid="rotated-key" />
          <CopyField label={t('streams.ingest.srtUrl')} value={rotated.ingest.srt.url} testid="rotated-srt-url" />
        </Dialog>
      )}
    </section>
  );
}
