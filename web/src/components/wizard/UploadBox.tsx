// Upload a source: a file input and a drop zone, the real progress of the
// upload (XMLHttpRequest's upload.onprogress), cancelable; the stored
// object's URL becomes the job's source.

import { UploadCloud, X } from 'lucide-react';
import { useEffect, useRef, useState } from 'react';
import { errorText, uploadFile, type UploadHandle, type Uploaded } from '../../api/wizard';
import { formatBytes } from '../format';
import { useI18n } from '../../i18n';

type State =
  | { kind: 'idle' }
  | { kind: 'uploading'; name: string; loaded: number; total: number }
  | { kind: 'done'; name: string; result: Uploaded }
  | { kind: 'cancelled'; name: string }
  | { kind: 'failed'; name: string; message: string };

export function UploadBox({ onUploaded, onCleared }: { onUploaded: (url: string) => void; onCleared: () => void }) {
  const { t, locale } = useI18n();
  const [state, setState] = useState<State>({ kind: 'idle' });
  const [over, setOver] = useState(false);
  const handle = useRef<UploadHandle | null>(null);
  const input = useRef<HTMLInputElement>(null);

  // leaving the page cancels an upload still running
  useEffect(() => () => handle.current?.abort(), []);

  function start(file: File) {
    handle.current?.abort();
    onCleared();
    setState({ kind: 'uploading', name: file.name, loaded: 0, total: file.size });
    const h = uploadFile(file, (loaded, total) =>
      setState((s) => (s.kind === 'uploading' ? { ...s, loaded, total } : s)),
    );
    handle.current = h;
    h.done.then(
      (result) => {
        if (handle.current !== h) return;
        handle.current = null;
        setState({ kind: 'done', name: file.name, result });
        onUploaded(result.url);
      },
      (e: unknown) => {
        if (handle.current !== h) return;
        handle.current = null;
        if (e instanceof DOMException && e.name === 'AbortError') setState({ kind: 'cancelled', name: file.name });
        else setState({ kind: 'failed', name: file.name, message: errorText(e) });
      },
    );
  }

  const pct =
    state.kind === 'done' ? 100 : state.kind === 'uploading' && state.total > 0 ? (state.loaded / state.total) * 100 : 0;

  return (
    <div className="wz-upload">
      <label
        className={`wz-drop${over ? ' wz-over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          const f = e.dataTransfer.files[0];
          if (f) start(f);
        }}
        data-testid="upload-drop"
      >
        <UploadCloud size={28} aria-hidden />
        <span>{t('wizard.upload.drop')}</span>
        <span className="button">{t('wizard.upload.choose')}</span>
        <input
          ref={input}
          type="file"
          className="sr-only"
          accept="video/*,audio/*,.mkv,.mov,.mxf,.ts,.m2ts"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) start(f);
            e.target.value = '';
          }}
          data-testid="upload-input"
        />
      </label>
      {state.kind !== 'idle' && (
        <div className="wz-upload-status" data-testid="upload-status" data-state={state.kind}>
          <div className="wz-upload-line">
            <span className="wz-file-name">{state.name}</span>
            {state.kind === 'uploading' && (
              <>
                <span className="muted small">
                  {formatBytes(state.loaded, locale)} / {formatBytes(state.total, locale)}
                </span>
                <button
                  type="button"
                  className="button danger"
                  onClick={() => handle.current?.abort()}
                  data-testid="upload-cancel"
                >
                  <X size={16} aria-hidden />
                  {t('wizard.upload.cancel')}
                </button>
              </>
            )}
          </div>
          {(state.kind === 'uploading' || state.kind === 'done') && (
          <div
            className="progress"
            role="progressbar"
            aria-label={t('wizard.upload.progress')}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(pct)}
            data-testid="upload-progress"
          >
            <div className="progress-fill" style={{ width: `${pct}%` }} />
            <span className="progress-label">{Math.round(pct)}%</span>
          </div>
          )}
          {state.kind === 'done' && (
            <p className="notice" data-testid="upload-done">
              {t('wizard.upload.done', { size: formatBytes(state.result.size, locale) })}
            </p>
          )}
          {state.kind === 'cancelled' && <p className="muted">{t('wizard.upload.cancelled')}</p>}
          {state.kind === 'failed' && (
            <p className="alert" role="alert" data-testid="upload-error">
              {t('wizard.upload.failed', { message: state.message })}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
