// The plugins (spec §19.3 /settings/plugins, admin): grouped by type with
// their state, version, priority and uptime; a dialog per plugin for its
// configuration, enable/disable and a connection test.

import { useQuery } from '@tanstack/react-query';
import { Plug } from 'lucide-react';
import { useState } from 'react';
import { ops, PLUGIN_TYPES, type Plugin } from '../api/ops';
import { useCan } from '../auth/Can';
import { formatDuration } from '../components/format';
import { Forbidden } from '../components/ops/Forbidden';
import { PluginDialog, PluginStateBadge } from '../components/ops/PluginDialog';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';
import '../styles/ops.css';

export function Plugins() {
  const { t } = useI18n();
  const canRead = useCan('plugin.read');
  const q = useQuery({ queryKey: ['plugins'], queryFn: ops.plugins, enabled: canRead });
  const [openId, setOpenId] = useState<string | null>(null);

  if (!canRead) return <Forbidden title={t('plugins.title')} />;

  const plugins = q.data?.plugins ?? [];
  // the known types in their order, then any other (a broken manifest's: '')
  const typeOf = (p: Plugin) => p.type ?? '';
  const types = [...PLUGIN_TYPES, ...new Set(plugins.map(typeOf).filter((x) => !(PLUGIN_TYPES as readonly string[]).includes(x)))];
  const open = plugins.find((p) => p.id === openId);
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <Plug size={20} aria-hidden /> {t('plugins.title')}
        </h1>
      </div>
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.isPending && <p className="muted">{t('common.loading')}</p>}
      {q.data &&
        types.map((type) => {
          const group = plugins.filter((p) => typeOf(p) === type);
          if (!group.length) return null;
          return (
            <section className="card" key={type} data-testid={`plugins-${type || 'other'}`}>
              <h2>{(PLUGIN_TYPES as readonly string[]).includes(type) ? t(`plugins.type.${type as 'auth'}`) : type || '–'}</h2>
              <div className="table-wrap">
                <table data-testid="plugins-table">
                  <thead>
                    <tr>
                      <th>{t('plugins.col.id')}</th>
                      <th>{t('plugins.col.state')}</th>
                      <th>{t('plugins.col.version')}</th>
                      <th className="hide-narrow">{t('plugins.col.priority')}</th>
                      <th className="hide-narrow">{t('plugins.col.uptime')}</th>
                      <th>
                        <span className="sr-only">{t('workers.col.actions')}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {group.map((p: Plugin) => (
                      <tr key={p.id} data-plugin-id={p.id}>
                        <td className="mono">{p.id}</td>
                        <td>
                          <PluginStateBadge plugin={p} />
                          {p.restart_required && <span className="badge pbadge-degraded">{t('plugins.restartBadge')}</span>}
                        </td>
                        <td>{p.version ?? '–'}</td>
                        <td className="hide-narrow">{p.priority ?? '–'}</td>
                        <td className="hide-narrow">{formatDuration(p.uptime_s)}</td>
                        <td>
                          <button className="button" onClick={() => setOpenId(p.id)} data-testid="plugin-open">
                            {t('plugins.details')}
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          );
        })}
      {q.data && plugins.length === 0 && <p className="muted">{t('plugins.empty')}</p>}
      {open && <PluginDialog key={open.id} plugin={open} onClose={() => setOpenId(null)} />}
    </div>
  );
}
