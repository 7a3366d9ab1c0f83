// The workers (spec §19.3 /workers): id, host, status, current tasks,
// capabilities, last heartbeat; live from the `workers` topic (REST for the
// first paint); drain, undrain and remove for admins.

import { useQuery } from '@tanstack/react-query';
import { Server } from 'lucide-react';
import { Link } from 'react-router-dom';
import { ops, type Worker } from '../api/ops';
import { useTopic } from '../api/ws';
import { formatDate } from '../components/format';
import { CapabilitySummary, WorkerActions, WorkerStatusBadge, workerPath } from '../components/ops/workers';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';
import '../styles/ops.css';

export function Workers() {
  const { t, locale } = useI18n();
  const rest = useQuery({ queryKey: ['workers'], queryFn: ops.workers });
  const live = useTopic<{ workers: Worker[] }>('workers');
  const workers = live?.workers ?? rest.data?.workers;

  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <Server size={20} aria-hidden /> {t('workers.title')}
        </h1>
        {workers && (
          <span className="muted" data-testid="workers-count">
            {t('workers.count', { n: workers.length })}
          </span>
        )}
      </div>
      {rest.isError && !live && <QueryError error={rest.error} retry={() => void rest.refetch()} />}
      {!workers && !rest.isError && <p className="muted">{t('common.loading')}</p>}
      {workers && (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="workers-table" data-live={live ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th>{t('workers.col.id')}</th>
                  <th>{t('workers.col.host')}</th>
                  <th>{t('workers.col.status')}</th>
                  <th>{t('workers.col.tasks')}</th>
                  <th className="hide-narrow">{t('workers.col.capabilities')}</th>
                  <th className="hide-narrow">{t('workers.col.heartbeat')}</th>
                  <th>
                    <span className="sr-only">{t('workers.col.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {workers.length === 0 && (
                  <tr>
                    <td colSpan={7} className="muted">
                      {t('workers.empty')}
                    </td>
                  </tr>
                )}
                {workers.map((w) => (
                  <tr key={w.id} data-worker-id={w.id}>
                    <td>
                      <Link to={workerPath(w.id)} className="mono">
                        {w.id}
                      </Link>
                    </td>
                    <td className="ellipsis">{w.hostname ?? w.capabilities?.hostname ?? '–'}</td>
                    <td>
                      <WorkerStatusBadge worker={w} />
                    </td>
                    <td data-testid="worker-tasks">
                      {w.task_ids?.length ?? 0}
                      {w.slots_total != null && <span className="muted"> / {w.slots_total}</span>}
                    </td>
                    <td className="hide-narrow">
                      <CapabilitySummary worker={w} />
                    </td>
                    <td className="hide-narrow small">{formatDate(w.last_heartbeat, locale)}</td>
                    <td>
                      <WorkerActions worker={w} compact />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
