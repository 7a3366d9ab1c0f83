// The restreams list (docs/api.md "Restreams"): title, status badge,
// input type, destinations count, schedule, Start/Stop for operators.
// Nothing pushes list changes yet: it polls every 2 s.

import { useQuery } from '@tanstack/react-query';
import { Plus } from 'lucide-react';
import { Link } from 'react-router-dom';
import { inputKind, restreams } from '../api/restreams';
import { Can } from '../auth/Can';
import { QueryError } from '../components/QueryError';
import { type MessageKey, useI18n } from '../i18n';
import { RestreamStatusBadge, StartStop } from './RestreamParts';
import '../styles/restreams.css';

export function Restreams() {
  const { t } = useI18n();
  const list = useQuery({ queryKey: ['restreams', 'list'], queryFn: restreams.list, refetchInterval: 2000 });

  return (
    <div className="page">
      <div className="page-head">
        <h1>{t('restreams.title')}</h1>
        <span className="spacer" />
        <Can action="restream.create">
          <Link className="button primary" to="/restreams/new" data-testid="restream-new">
            <Plus size={16} aria-hidden /> {t('restreams.new')}
          </Link>
        </Can>
      </div>
      {list.isError ? (
        <QueryError error={list.error} retry={() => void list.refetch()} />
      ) : (
        <div className="card">
          <div className="table-wrap">
            <table className="table" data-testid="restreams-table" data-loaded={list.data ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th>{t('restreams.col.title')}</th>
                  <th>{t('restreams.col.status')}</th>
                  <th>{t('restreams.col.input')}</th>
                  <th>{t('restreams.col.destinations')}</th>
                  <th>{t('restreams.col.schedule')}</th>
                  <th>{t('restreams.col.actions')}</th>
                </tr>
              </thead>
              <tbody>
                {list.data?.restreams.map((r) => (
                  <tr key={r.id} data-restream-id={r.id} data-status={r.status}>
                    <td>
                      <Link to={`/restreams/${r.id}`} className="restream-break">
                        {r.title}
                      </Link>
                    </td>
                    <td>
                      <RestreamStatusBadge status={r.status} />
                    </td>
                    <td data-testid="restream-input-kind">{t(`restreams.input.${inputKind(r)}`)}</td>
                    <td data-testid="restream-dest-count">{r.output_destinations.length}</td>
                    <td>{t(`restreams.schedule.${r.schedule_type}` as MessageKey)}</td>
                    <td>
                      <StartStop r={r} />
                    </td>
                  </tr>
                ))}
                {list.data && list.data.restreams.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted" data-testid="restreams-empty">
                      {t('restreams.empty')}
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </div>
  );
}
