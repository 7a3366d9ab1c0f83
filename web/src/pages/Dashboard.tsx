import { Activity, Server } from 'lucide-react';
import { useEffect } from 'react';
import { Link } from 'react-router-dom';
import type { OpsSnapshot } from '../api/ops';
import { useTopic } from '../api/ws';
import { HealthCard, JobStats, ResourceCharts } from '../components/ops/DashboardOps';
import { record } from '../components/ops/metrics';
import { formatDate, shortId } from '../components/format';
import { ProgressBar, StatusBadge } from '../components/Status';
import { useI18n } from '../i18n';

function Stat({ label, value, testid }: { label: string; value: number; testid: string }) {
  return (
    <div className="stat" data-testid={testid}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

export function Dashboard() {
  const { t, locale } = useI18n();
  const snap = useTopic<OpsSnapshot>('dashboard');

  // each tick is a sample of the resource charts (kept across page visits)
  useEffect(() => {
    if (!snap) return;
    const t = Date.parse(snap.time);
    record('dashboard', snap, {
      t: Number.isNaN(t) ? Date.now() : t,
      cpu: snap.system?.cpu_pct,
      mem: snap.system?.mem_pct,
      online: snap.workers.online + snap.workers.draining, // connected: draining ones too
      busy: snap.workers.busy,
      active: snap.active_jobs,
    });
  }, [snap]);

  return (
    <div className="page">
      <div className="page-head">
        <h1>{t('dash.title')}</h1>
        <span className="muted" data-testid="dash-time" data-time={snap?.time ?? ''}>
          {snap ? t('dash.updated', { time: formatDate(snap.time, locale) }) : t('dash.waiting')}
        </span>
      </div>
      {snap && (
        <>
          <section className="card">
            <h2>
              <Activity size={18} aria-hidden /> {t('dash.jobs24h')}
            </h2>
            <div className="stats">
              <Stat label={t('dash.total')} value={snap.jobs_24h.total} testid="stat-total" />
              <Stat label={t('dash.active')} value={snap.active_jobs} testid="stat-active" />
              <Stat label={t('status.queued')} value={snap.jobs_24h.queued} testid="stat-queued" />
              <Stat label={t('status.processing')} value={snap.jobs_24h.processing} testid="stat-processing" />
              <Stat label={t('status.completed')} value={snap.jobs_24h.completed} testid="stat-completed" />
              <Stat label={t('status.failed')} value={snap.jobs_24h.failed} testid="stat-failed" />
              <Stat label={t('status.cancelled')} value={snap.jobs_24h.cancelled} testid="stat-cancelled" />
            </div>
            <JobStats snap={snap} />
          </section>
          <HealthCard snap={snap} />
          <section className="card">
            <h2>
              <Server size={18} aria-hidden /> {t('dash.workers')}
            </h2>
            <div className="stats">
              <Stat label={t('dash.total')} value={snap.workers.total} testid="workers-total" />
              <Stat label={t('dash.online')} value={snap.workers.online} testid="workers-online" />
              <Stat label={t('dash.busy')} value={snap.workers.busy} testid="workers-busy" />
              <Stat label={t('dash.draining')} value={snap.workers.draining} testid="workers-draining" />
              <Stat label={t('dash.offline')} value={snap.workers.offline} testid="workers-offline" />
            </div>
          </section>
          <ResourceCharts snap={snap} />
          <section className="card">
            <h2>{t('dash.recent')}</h2>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>{t('col.id')}</th>
                    <th>{t('col.profile')}</th>
                    <th>{t('col.status')}</th>
                    <th>{t('col.progress')}</th>
                    <th className="hide-narrow">{t('col.created')}</th>
                  </tr>
                </thead>
                <tbody>
                  {snap.recent_jobs.length === 0 && (
                    <tr>
                      <td colSpan={5} className="muted">
                        {t('jobs.empty')}
                      </td>
                    </tr>
                  )}
                  {snap.recent_jobs.map((j) => (
                    <tr key={j.id} data-job-id={j.id}>
                      <td>
                        <Link to={`/jobs/${j.id}`} className="mono">
                          {shortId(j.id)}
                        </Link>
                      </td>
                      <td>{j.profile}</td>
                      <td>
                        <StatusBadge status={j.status} />
                      </td>
                      <td>
                        <ProgressBar pct={j.progress_pct} />
                      </td>
                      <td className="hide-narrow">{formatDate(j.created_at, locale)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </>
      )}
    </div>
  );
}
