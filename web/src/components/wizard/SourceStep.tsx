// Step 1: where the source comes from — a URL, a file in a storage root,
// or an upload.

import { Link2, FolderOpen, Upload } from 'lucide-react';
import { useCan } from '../../auth/Can';
import { useT, type MessageKey } from '../../i18n';
import { FileBrowser } from './FileBrowser';
import { UploadBox } from './UploadBox';

export type SourceMode = 'url' | 'browse' | 'upload';

/** The schemes a storage pillar may claim (docs/api.md, POST /v1/jobs);
 * which of them this service has configured only the server knows. */
export const SOURCE_RE = /^(s3|https?|file|fs):\/\/\S+$/i;

const TABS: { mode: SourceMode; label: MessageKey; Icon: typeof Link2 }[] = [
  { mode: 'url', label: 'wizard.source.url', Icon: Link2 },
  { mode: 'browse', label: 'wizard.source.browse', Icon: FolderOpen },
  { mode: 'upload', label: 'wizard.source.upload', Icon: Upload },
];

export function SourceStep({
  mode,
  setMode,
  url,
  setUrl,
  picked,
  setPicked,
  uploaded,
  setUploaded,
  urlError,
}: {
  mode: SourceMode;
  setMode: (m: SourceMode) => void;
  url: string;
  setUrl: (u: string) => void;
  picked: string;
  setPicked: (u: string) => void;
  uploaded: string;
  setUploaded: (u: string) => void;
  urlError: string | null;
}) {
  const t = useT();
  const canUpload = useCan('file.upload');
  const tabs = TABS.filter((x) => x.mode !== 'upload' || canUpload);
  return (
    <div className="wz-source">
      <div className="wz-tabs" role="tablist" aria-label={t('wizard.source.how')}>
        {tabs.map(({ mode: m, label, Icon }) => (
          <button
            key={m}
            type="button"
            role="tab"
            aria-selected={mode === m}
            className={`wz-tab${mode === m ? ' wz-tab-on' : ''}`}
            onClick={() => setMode(m)}
            data-testid={`source-tab-${m}`}
          >
            <Icon size={16} aria-hidden />
            {t(label)}
          </button>
        ))}
      </div>
      <div role="tabpanel" hidden={mode !== 'url'}>
        <label className={`pf-field${urlError ? ' pf-invalid' : ''}`}>
          <span>{t('wizard.source.urlLabel')}</span>
          <input
            type="url"
            inputMode="url"
            value={url}
            placeholder={t('wizard.source.urlPlaceholder')}
            onChange={(e) => setUrl(e.target.value)}
            aria-invalid={!!urlError}
            data-testid="source-url"
          />
          <span className="muted small">{t('wizard.source.urlHint')}</span>
          {urlError && (
            <span className="pf-error" role="alert" data-testid="source-url-error">
              {urlError}
            </span>
          )}
        </label>
      </div>
      <div role="tabpanel" hidden={mode !== 'browse'}>
        <FileBrowser selected={picked} onPick={setPicked} />
      </div>
      {canUpload && (
        <div role="tabpanel" hidden={mode !== 'upload'}>
          <UploadBox onUploaded={setUploaded} onCleared={() => setUploaded('')} />
        </div>
      )}
      {mode !== 'url' && (
        <p className="wz-chosen small" data-testid="source-chosen">
          <span className="muted">{t('wizard.source.chosen')}</span>{' '}
          <span className="mono">{(mode === 'browse' ? picked : uploaded) || t('wizard.source.none')}</span>
        </p>
      )}
      {mode !== 'url' && urlError && (
        <p className="pf-error" role="alert" data-testid="source-url-error">
          {urlError}
        </p>
      )}
    </div>
  );
}
