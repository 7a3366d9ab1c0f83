// The dashboard's operations cards (spec §19.3): system health, the job
// statistics of the last 24 h, and the resource charts. The `system` and
// `health` members of the `dashboard` event are optional: a service that
// does not send them gets "not reported" instead of numbers.

import { Cpu, HeartPulse } from 'lucide-react';
import type { OpsSnapshot } from '../../api/ops';
import { useI18n } from '../../i18n';
import { ALERT_PCT, MetricChart } from '../charts/MetricChart';
import { formatBytes, formatDuration } from '../format';
import { useSeries } from './metrics';
import '../../styles/ops.css';

function pct(v: number | undefined | null, locale: string): string {
  return v == null || !Number.isFinite(v) ? '–' : `${v.toLocaleString(locale, { maximumFractionDigits: 1 })} %`;
}

/** Success rate of the finished jobs: the server's figure, else our own. */
export function succeededPct(s: OpsSnapshot): number | null {
  if (s.jobs_24h.succeeded_pct != null) return s.jobs_24h.succeeded_pct;
  const done = s.jobs_24h.completed + s.jobs_24h.failed + s.jobs_24h.cancelled;
  return done ? (100 * s.jobs_24h.completed) / done : null;
}

export function JobStats({ snap }: { snap: OpsSnapshot }) {
  const { t, locale } = useI18n();
  const ok = succeededPct(snap);
  return (
    <dl className="facts ops-jobstats">
      <dt>{t('charts.successRate')}</dt>
      <dd data-testid="stat-success-pct" data-value={ok ?? ''}>
        {pct(ok, locale)}
      </dd>
      <dt>{t('charts.avgProcessing')}</dt>
      <dd data-testid="stat-avg-processing">
        {snap.jobs_24h.avg_processing_s != null ? formatDuration(snap.jobs_24h.avg_processing_s) : '–'}
      </dd>
    </dl>
  );
}

function HealthItem({ label, ok, detail, testid }: { label: string; ok: boolean | undefined; detail: string; testid: string }) {
  const { t } = useI18n();
  const state = ok === undefined ? 'unknown' : ok ? 'ok' : 'down';
  return (
    <div className={`health-item health-${state}`} data-testid={testid} data-state={state}>
      <span className="health-dot" aria-hidden />
      <div>
        <div className="health-label">{label}</div>
        <div className="muted small">
          {t(`health.${state}`)}
          {detail ? ` · ${detail}` : ''}
        </div>
      </div>
    </div>
  );
}

export function HealthCard({ snap }: { snap: OpsSnapshot }) {
  const { t, locale } = useI18n();
  const h = snap.health;
  const sys = snap.system;
  const db = h?.database;
  const q = h?.queue;
  const p = h?.plugins;
  const pluginsOk = p ? (p.failed ?? 0) === 0 && (p.degraded ?? 0) === 0 : undefined;
  const hot = (v?: number) => v != null && v > ALERT_PCT;
  return (
    <section className="card" data-testid="health-card" data-reported={h ? 'true' : 'false'}>
      <h2>
        <HeartPulse size={18} aria-hidden /> {t('health.title')}
      </h2>
      {!h && !sys && <p className="muted small">{t('health.notReported')}</p>}
      <div className="health-grid">
        <HealthItem
          label={t('health.database')}
          ok={db?.ok}
          testid="health-database"
          detail={[db?.backend, db?.latency_ms != null ? t('health.latency', { ms: Math.round(db.latency_ms * 10) / 10 }) : '']
            .filter(Boolean)
            .join(' · ')}
        />
        <HealthItem label={t('health.queue')} ok={q?.ok} testid="health-queue" detail={q?.kind ?? ''} />
        <HealthItem
          label={t('health.plugins')}
          ok={pluginsOk}
          testid="health-plugins"
          detail={
            p
              ? t('health.pluginCounts', {
                  healthy: p.healthy ?? 0,
                  degraded: p.degraded ?? 0,
                  failed: p.failed ?? 0,
                  disabled: p.disabled ?? 0,
                })
              : ''
          }
        />
      </div>
      {sys && (
        <div className="stats ops-system">
          <div className={`stat ${hot(sys.cpu_pct) ? 'stat-alert' : ''}`} data-testid="sys-cpu">
            <div className="stat-value">{pct(sys.cpu_pct, locale)}</div>
            <div className="stat-label">{t('health.cpu')}</div>
          </div>
          <div className={`stat ${hot(sys.mem_pct) ? 'stat-alert' : ''}`} data-testid="sys-mem">
            <div className="stat-value">{pct(sys.mem_pct, locale)}</div>
            <div className="stat-label">
              {t('health.memory')}
              {sys.mem_total_bytes != null &&
                ` · ${formatBytes(sys.mem_used_bytes, locale)} / ${formatBytes(sys.mem_total_bytes, locale)}`}
            </div>
          </div>
          <div className={`stat ${hot(sys.disk_pct) ? 'stat-alert' : ''}`} data-testid="sys-disk">
            <div className="stat-value">{pct(sys.disk_pct, locale)}</div>
            <div className="stat-label">{t('health.disk')}</div>
          </div>
          <div className="stat" data-testid="sys-load">
            <div className="stat-value">{sys.load1 != null ? sys.load1.toLocaleString(locale, { maximumFractionDigits: 2 }) : '–'}</div>
            <div className="stat-label">{t('health.load', { cores: sys.cores ?? '–' })}</div>
          </div>
        </div>
      )}
    </section>
  );
}

export function ResourceCharts({ snap }: { snap: OpsSnapshot }) {
  const { t, locale } = useI18n();
  const data = useSeries('dashboard');
  const cpu = snap.system?.cpu_pct;
  const mem = snap.system?.mem_pct;
  return (
    <section className="card">
      <h2>
        <Cpu size={18} aria-hidden /> {t('charts.title')}
      </h2>
      <p className="muted small">{t('charts.window')}</p>
      <div className="chart-grid">
        <MetricChart
          title={t('charts.cpu')}
          value={pct(cpu, locale)}
          alert={cpu != null && cpu > ALERT_PCT}
          data={data}
          lines={[{ key: 'cpu', label: t('charts.cpu'), color: '#2f6fed' }]}
          max={100}
          alertAt={ALERT_PCT}
          locale={locale}
          empty={t('charts.noData')}
          testid="chart-cpu"
        />
        <MetricChart
          title={t('charts.memory')}
          value={pct(mem, locale)}
          alert={mem != null && mem > ALERT_PCT}
          data={data}
          lines={[{ key: 'mem', label: t('charts.memory'), color: '#8b5cf6' }]}
          max={100}
          alertAt={ALERT_PCT}
          locale={locale}
          empty={t('charts.noData')}
          testid="chart-mem"
        />
        <MetricChart
          title={t('charts.workers')}
          value={`${snap.workers.busy} / ${snap.workers.online + snap.workers.draining}`}
          data={data}
          lines={[
            { key: 'online', label: t('charts.online'), color: '#1e8e4f' },
            { key: 'busy', label: t('charts.busy'), color: '#d97706' },
          ]}
          locale={locale}
          empty={t('charts.noData')}
          testid="chart-workers"
        />
        <MetricChart
          title={t('charts.activeJobs')}
          value={snap.active_jobs}
          data={data}
          lines={[{ key: 'active', label: t('charts.activeJobs'), color: '#2f6fed' }]}
          locale={locale}
          empty={t('charts.noData')}
          testid="chart-jobs"
        />
      </div>
    </section>
  );
}
