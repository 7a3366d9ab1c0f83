import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { ChevronLeft, ChevronRight, Plus, Search } from 'lucide-react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api, JOB_STATUSES, type Job, type JobStatus } from '../api';
import { useTopicEvents } from '../api/ws';
import { Can } from '../auth/Can';
import { formatDate, formatDuration, shortId } from '../components/format';
import { ProgressBar, StatusBadge } from '../components/Status';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';

const PAGE = 25;

export function Jobs() {
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const status = (params.get('status') ?? '') as JobStatus | '';
  const search = params.get('q') ?? '';
  const page = Math.max(0, Number(params.get('page') ?? 0) || 0);
  const [searchInput, setSearchInput] = useState(search);

  const query = { status, search, limit: PAGE, offset: page * PAGE };
  const jobs = useQuery({
    queryKey: ['jobs', query],
    queryFn: () => api.jobs(query),
    placeholderData: keepPreviousData,
  });

  // live updates from the `jobs` topic replace rows in place; a job not on
  // the page (a new one) refetches the first page, at most once a second
  const [live, setLive] = useState<Record<string, Job>>({});
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const rows = jobs.data?.jobs;
  const onJob = useCallback(
    (data: unknown) => {
      const job = data as Job;
      if (!job?.id) return;
      if (rows?.some((r) => r.id === job.id)) {
        setLive((l) => ({ ...l, [job.id]: job }));
      } else if (page === 0 && !refetchTimer.current) {
        refetchTimer.current = setTimeout(() => {
          refetchTimer.current = null;
          void qc.invalidateQueries({ queryKey: ['jobs'] });
        }, 1000);
      }
    },
    [rows, page, qc],
  );
  useTopicEvents('jobs', onJob);
  useEffect(
    () => () => {
      if (refetchTimer.current) clearTimeout(refetchTimer.current);
    },
    [],
  );
  // a fresh page from the server supersedes older live rows
  useEffect(() => setLive({}), [jobs.dataUpdatedAt]);

  // the search applies 300 ms after typing stops
  useEffect(() => {
    if (searchInput === search) return;
    const id = setTimeout(() => update({ q: searchInput, page: '' }), 300);
    return () => clearTimeout(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [searchInput]);

  function update(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) if (v) next.set(k, v);
      else next.delete(k);
    setParams(next, { replace: true });
  }

  const total = jobs.data?.total ?? 0;
  const from = total ? page * PAGE + 1 : 0;
  const to = Math.min(total, (page + 1) * PAGE);

  return (
    <div className="page">
      <div className="page-head">
        <h1>{t('jobs.title')}</h1>
        <span className="spacer" />
        <Can action="job.create">
          <Link to="/jobs/new" className="button primary" data-testid="jobs-new">
            <Plus size={16} aria-hidden />
            {t('wizard.newJob')}
          </Link>
        </Can>
      </div>
      <div className="toolbar">
        <label className="search">
          <Search size={16} aria-hidden />
          <input
            type="search"
            placeholder={t('jobs.search')}
            aria-label={t('jobs.search')}
            value={searchInput}
            onChange={(e) => setSearchInput(e.target.value)}
            data-testid="jobs-search"
          />
        </label>
        <select
          aria-label={t('jobs.status')}
          value={status}
          onChange={(e) => update({ status: e.target.value, page: '' })}
          data-testid="jobs-status"
        >
          <option value="">{t('jobs.all')}</option>
          {JOB_STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`status.${s}`)}
            </option>
          ))}
        </select>
      </div>
      {jobs.error ? (
        <QueryError error={jobs.error} retry={() => void jobs.refetch()} />
      ) : !jobs.data ? (
        <p className="muted">{t('common.loading')}</p>
      ) : (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="jobs-table">
              <thead>
                <tr>
                  <th>{t('col.id')}</th>
                  <th className="hide-narrow">{t('col.source')}</th>
                  <th>{t('col.profile')}</th>
                  <th>{t('col.status')}</th>
                  <th>{t('col.progress')}</th>
                  <th className="hide-narrow">{t('col.created')}</th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.jobs.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted">
                      {t('jobs.empty')}
                    </td>
                  </tr>
                )}
                {jobs.data.jobs.map((row) => {
                  const ev = live[row.id];
                  // an event older than the fetched row (a replayed one) loses
                  const j = ev && (ev.updated_at ?? '') >= (row.updated_at ?? '') ? ev : row;
                  return (
                    <tr key={j.id} data-job-id={j.id} data-status={j.status}>
                      <td>
                        <Link to={`/jobs/${j.id}`} className="mono">
                          {shortId(j.id)}
                        </Link>
                      </td>
                      <td className="hide-narrow ellipsis" title={j.source_url}>
                        {j.source_url}
                      </td>
                      <td>{j.profile}</td>
                      <td>
                        <StatusBadge status={j.status} />
                      </td>
                      <td>
                        <ProgressBar
                          pct={j.progress_pct}
                          label={
                            j.eta_seconds != null && j.status === 'processing'
                              ? `${Math.round(j.progress_pct)}% · ${formatDuration(j.eta_seconds)}`
                              : undefined
                          }
                        />
                      </td>
                      <td className="hide-narrow">{formatDate(j.created_at, locale)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <div className="pager">
            <span className="muted">{t('jobs.page', { from, to, total })}</span>
            <button
              className="icon-button"
              disabled={page === 0}
              onClick={() => update({ page: page > 1 ? String(page - 1) : '' })}
              aria-label={t('jobs.prev')}
            >
              <ChevronLeft size={18} aria-hidden />
            </button>
            <button
              className="icon-button"
              disabled={to >= total}
              onClick={() => update({ page: String(page + 1) })}
              aria-label={t('jobs.next')}
            >
              <ChevronRight size={18} aria-hidden />
            </button>
          </div>
        </section>
      )}
    </div>
  );
}
