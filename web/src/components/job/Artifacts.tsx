// The job's outputs grouped by type, with sizes and download links. The
// links are real <a href> to the same-origin output route (copy-able, and
// what a script or curl with credentials fetches); a click fetches the file
// with the session's credentials and saves it, because a browser navigation
// would not carry the Authorization header the SPA keeps in sessionStorage.

import { Download } from 'lucide-react';
import type { Output } from '../../api';
import { fetchBlob, outputPath, saveBlob } from '../../api/detail';
import { reportError } from '../../errors/tracker';
import { useI18n } from '../../i18n';
import { formatBytes } from '../format';

const GROUPS = ['final', 'manifest', 'rendition', 'thumbnail', 'subtitle', 'checksum', 'other'] as const;
type Group = (typeof GROUPS)[number];

function groupOf(o: Output): Group {
  if (/(^|\/)(checksums?[^/]*|[^/]*\.(sha256|sha512|md5))$/i.test(o.name)) return 'checksum';
  return (GROUPS as readonly string[]).includes(o.type) ? (o.type as Group) : 'other';
}

export function Artifacts({ jobId, outputs, onError }: { jobId: string; outputs: Output[]; onError: (e: unknown) => void }) {
  const { t, locale } = useI18n();
  const groups = new Map<Group, Output[]>();
  for (const o of outputs) {
    const g = groupOf(o);
    groups.set(g, [...(groups.get(g) ?? []), o]);
  }
  const total = outputs.reduce((n, o) => n + (o.size_bytes || 0), 0);

  const save = (o: Output) => (e: React.MouseEvent) => {
    e.preventDefault();
    fetchBlob(outputPath(jobId, o.name))
      .then((b) => saveBlob(b, o.name))
      .catch((err: unknown) => {
        onError(err);
        reportError(err, 'warning');
      });
  };

  return (
    <div className="table-wrap">
      <table data-testid="outputs-table" className="artifacts">
        <thead>
          <tr>
            <th>{t('col.name')}</th>
            <th className="hide-narrow">{t('col.type')}</th>
            <th className="num">{t('col.size')}</th>
            <th />
          </tr>
        </thead>
        {GROUPS.filter((g) => groups.has(g)).map((g) => {
          const list = groups.get(g)!;
          return (
            <tbody key={g} data-group={g}>
              <tr className="group-row">
                <th colSpan={4}>
                  {t(`detail.artifacts.group.${g}`)}{' '}
                  <span className="muted small">
                    {t('detail.artifacts.count', {
                      n: list.length,
                      size: formatBytes(list.reduce((n, o) => n + (o.size_bytes || 0), 0), locale),
                    })}
                  </span>
                </th>
              </tr>
              {list.map((o) => (
                <tr key={o.name} data-name={o.name} data-size={o.size_bytes}>
                  <td className="mono ellipsis wide-cell" title={o.name}>
                    {o.name}
                  </td>
                  <td className="hide-narrow">{o.type}</td>
                  <td className="num">{formatBytes(o.size_bytes, locale)}</td>
                  <td>
                    <a
                      className="icon-button"
                      href={outputPath(jobId, o.name)}
                      download={o.name.split('/').pop()}
                      title={t('job.download')}
                      onClick={save(o)}
                      data-testid="output-download"
                    >
                      <Download size={16} aria-hidden />
                      <span className="sr-only">{t('job.download')}</span>
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          );
        })}
        <tfoot>
          <tr>
            <td className="muted small" colSpan={4}>
              {t('detail.artifacts.total', { n: outputs.length, size: formatBytes(total, locale) })}
            </td>
          </tr>
        </tfoot>
      </table>
    </div>
  );
}
