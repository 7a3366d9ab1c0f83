// The storage browser of the wizard's first step: the storage pillars'
// roots, their folders with breadcrumbs, and media files to pick
// (GET /v1/files/roots, GET /v1/files/browse).

import { useQuery } from '@tanstack/react-query';
import { ChevronRight, File, Film, Folder, HardDrive, Music } from 'lucide-react';
import { useState } from 'react';
import { wizardApi, type BrowseEntry, type FileRoot } from '../../api/wizard';
import { formatBytes } from '../format';
import { QueryError } from '../QueryError';
import { useI18n } from '../../i18n';

interface Place {
  root: FileRoot;
  path: string;
}

/** The folders from the root down to `path`, each with its own path. */
function crumbs(root: FileRoot, path: string): { name: string; path: string }[] {
  const out = [{ name: root.name, path: root.path }];
  if (!path.startsWith(root.path)) return out;
  let cur = root.path.replace(/\/$/, '');
  for (const part of path.slice(root.path.length).split('/').filter(Boolean)) {
    cur = `${cur}/${part}`;
    out.push({ name: part, path: cur });
  }
  return out;
}

function EntryIcon({ e }: { e: BrowseEntry }) {
  if (e.is_directory) return <Folder size={16} aria-hidden />;
  if (e.is_video) return <Film size={16} aria-hidden />;
  if (e.is_audio) return <Music size={16} aria-hidden />;
  return <File size={16} aria-hidden />;
}

export function FileBrowser({ selected, onPick }: { selected: string; onPick: (url: string) => void }) {
  const { t, locale } = useI18n();
  const [place, setPlace] = useState<Place | null>(null);
  const roots = useQuery({ queryKey: ['file-roots'], queryFn: wizardApi.roots });
  const listing = useQuery({
    queryKey: ['browse', place?.root.plugin_id, place?.path],
    queryFn: () => wizardApi.browse(place?.root.plugin_id ?? '', place?.path ?? ''),
    enabled: place !== null,
  });

  if (roots.error) return <QueryError error={roots.error} retry={() => void roots.refetch()} />;
  if (!roots.data) return <p className="muted">{t('common.loading')}</p>;

  if (!place)
    return (
      <ul className="wz-files" data-testid="browser-roots">
        {roots.data.length === 0 && <li className="muted">{t('wizard.browse.noRoots')}</li>}
        {roots.data.map((r) => (
          <li key={`${r.plugin_id}:${r.path}`}>
            <button
              type="button"
              className="wz-file"
              onClick={() => setPlace({ root: r, path: r.path })}
              data-testid="browser-root"
              data-path={r.path}
            >
              <HardDrive size={16} aria-hidden />
              <span className="wz-file-name">{r.name}</span>
              <span className="muted small mono wz-file-meta">{r.plugin_id}</span>
            </button>
          </li>
        ))}
      </ul>
    );

  const entries = listing.data?.entries ?? [];
  return (
    <div className="wz-browser" data-testid="browser" data-path={listing.data?.current_path ?? place.path}>
      <nav className="wz-crumbs" aria-label={t('wizard.browse.path')} data-testid="browser-crumbs">
        <button type="button" className="wz-crumb" onClick={() => setPlace(null)}>
          {t('wizard.browse.roots')}
        </button>
        {crumbs(place.root, listing.data?.current_path ?? place.path).map((c) => (
          <span key={c.path} className="wz-crumb-wrap">
            <ChevronRight size={14} aria-hidden />
            <button type="button" className="wz-crumb" onClick={() => setPlace({ root: place.root, path: c.path })}>
              {c.name}
            </button>
          </span>
        ))}
      </nav>
      {listing.error ? (
        <QueryError error={listing.error} retry={() => void listing.refetch()} />
      ) : !listing.data ? (
        <p className="muted">{t('common.loading')}</p>
      ) : (
        <ul className="wz-files" data-testid="browser-entries">
          {entries.length === 0 && <li className="muted">{t('wizard.browse.empty')}</li>}
          {entries.map((e) => {
            const picked = !e.is_directory && !!e.url && e.url === selected;
            return (
              <li key={e.path}>
                <button
                  type="button"
                  className={`wz-file${picked ? ' wz-picked' : ''}`}
                  aria-pressed={e.is_directory ? undefined : picked}
                  onClick={() =>
                    e.is_directory ? setPlace({ root: place.root, path: e.path }) : e.url && onPick(e.url)
                  }
                  disabled={!e.is_directory && !e.url}
                  data-testid={e.is_directory ? 'browser-folder' : 'browser-file'}
                  data-name={e.name}
                  data-url={e.url}
                >
                  <EntryIcon e={e} />
                  <span className="wz-file-name">{e.name}</span>
                  {!e.is_directory && <span className="muted small wz-file-meta">{formatBytes(e.size, locale)}</span>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
