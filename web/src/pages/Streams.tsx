// The streams list (docs/api.md "Streams"): live / offline / all tabs kept
// in the URL (`?live=true|false`), each stream's title, live badge, last
// start and end, the archive job; "New stream" for operators.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ChevronLeft, ChevronRight, Plus } from 'lucide-react';
import { Link, useSearchParams } from 'react-router-dom';
import { streams } from '../api/streams';
import { Can } from '../auth/Can';
import { formatDate, shortId } from '../components/format';
import { QueryError } from '../components/QueryError';
import { LiveBadge } from '../components/streams/LiveBadge';
import { useI18n } from '../i18n';
import '../styles/streams.css';

const PAGE = 25;
const TABS = [
  ['all', undefined],
  ['active', true],
  ['past', false],
] as const;

export function Streams() {
  const { t, locale } = useI18n();
  const [params, setParams] = useSearchParams();
  const liveParam = params.get('live');
  const live = liveParam === 'true' ? true : liveParam === 'false' ? false : undefined;
  const page = Math.max(0, Number(params.get('page') ?? 0) || 0);
  const query = { live, limit: PAGE, offset: page * PAGE };
  const list = useQuery({
    queryKey: ['streams', query],
    queryFn: () => streams.list(query),
    placeholderData: keepPreviousData,
    // nothing pushes stream changes to the list yet: a live badge must not
    // go stale for long
    refetchInterval: 10_000,
  });

  const setTab = (v: boolean | undefined) => {
    const p = new URLSearchParams();
    if (v !== undefined) p.set('live', String(v));
    setParams(p);
  };
  const setPage = (n: number) => {
    const p = new URLSearchParams(params);
    if (n) p.set('page', String(n));
    else p.delete('page');
    setParams(p);
  };
  const total = list.data?.total ?? 0;

  return (
    <div className="page">
      <div className="page-head">
        <h1>{t('streams.title')}</h1>
        <span className="spacer" />
        <Can action="stream.create">
          <Link className="button primary" to="/streams/new" data-testid="stream-new">
            <Plus size={16} aria-hidden /> {t('streams.new')}
          </Link>
        </Can>
      </div>
      <div className="stream-tabs" role="tablist">
        {TABS.map(([name, v]) => (
          <button
            key={name}
            type="button"
            role="tab"
            aria-selected={live === v}
            className={`button ${live === v ? 'primary' : ''}`}
            onClick={() => setTab(v)}
            data-testid={`streams-tab-${name}`}
          >
            {t(`streams.tab.${name}`)}
          </button>
        ))}
      </div>
      {list.isError ? (
        <QueryError error={list.error} retry={() => void list.refetch()} />
      ) : (
        <div className="card">
          <div className="table-wrap">
            <table className="table" data-testid="streams-table" data-loaded={list.data ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th>{t('streams.col.title')}</th>
                  <th>{t('streams.col.status')}</th>
                  <th>{t('streams.col.lastStarted')}</th>
                  <th>{t('streams.col.lastEnded')}</th>
                  <th>{t('streams.col.archive')}</th>
                </tr>
              </thead>
              <tbody>
                {list.data?.streams.map((s) => (
                  <tr key={s.id} data-stream-id={s.id} data-live={s.is_live ? 'true' : 'false'}>
                    <td>
                      <Link to={`/streams/${s.id}`} className="stream-title-link">
                        {s.title}
                      </Link>
                    </td>
                    <td>
                      <LiveBadge live={s.is_live} />
                    </td>
                    <td>{s.last_started_at ? formatDate(s.last_started_at, locale) : t('streams.never')}</td>
                    <td>{s.last_ended_at ? formatDate(s.last_ended_at, locale) : '—'}</td>
                    <td>
                      {s.archive_vod_job_id ? (
                        <Link to={`/jobs/${s.archive_vod_job_id}`}>{t('streams.archiveJob', { id: shortId(s.archive_vod_job_id) })}</Link>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
                {list.data && list.data.streams.length === 0 && (
                  <tr>
                    <td colSpan={5} className="muted" data-testid="streams-empty">
                      {t('streams.empty')}
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          {total > PAGE && (
            <div className="pager">
              <span className="muted">
                {t('jobs.page', { from: page * PAGE + 1, to: Math.min(total, (page + 1) * PAGE), total })}
              </span>
              <button className="icon-button" disabled={page === 0} onClick={() => setPage(page - 1)} aria-label={t('jobs.prev')}>
                <ChevronLeft size={18} aria-hidden />
              </button>
              <button
                className="icon-button"
                disabled={(page + 1) * PAGE >= total}
                onClick={() => setPage(page + 1)}
                aria-label={t('jobs.next')}
              >
                <ChevronRight size={18} aria-hidden />
              </button>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
