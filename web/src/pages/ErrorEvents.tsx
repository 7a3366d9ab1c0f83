// Error events (spec §2.5; admin, error.read): the front end's and the
// service's recorded errors, filtered by status, severity and source; each
// opens to its stack and context, and is marked resolved or reopened
// (PATCH /v1/errors/{id}, error.update). The API keeps every report as its
// own event (no grouping), so there is no occurrence count to show.

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Bug, ChevronDown, ChevronRight } from 'lucide-react';
import { Fragment, useState } from 'react';
import { ApiError } from '../api';
import { ops, type ErrorEvent, type ErrorFilter } from '../api/ops';
import { useCan } from '../auth/Can';
import { formatDate } from '../components/format';
import { Forbidden } from '../components/ops/Forbidden';
import { Pager } from '../components/ops/Pager';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';
import '../styles/ops.css';

const PAGE = 25;
const SEVERITIES = ['warning', 'error', 'critical', 'fatal'] as const;
const SOURCES = ['frontend', 'kernel', 'worker', 'plugin'] as const;

function Detail({ e }: { e: ErrorEvent }) {
  const { t, locale } = useI18n();
  return (
    <div className="error-detail" data-testid="error-detail">
      <dl className="facts">
        <dt>{t('errors.id')}</dt>
        <dd className="mono small">{e.id}</dd>
        <dt>{t('errors.resolvedAt')}</dt>
        <dd>{e.resolved ? `${formatDate(e.resolved_at, locale)}${e.resolved_by ? ` · ${e.resolved_by}` : ''}` : '–'}</dd>
      </dl>
      <h3>{t('errors.stack')}</h3>
      <pre className="small">{e.stack_trace || t('errors.noStack')}</pre>
      <h3>{t('errors.context')}</h3>
      <pre className="small">{e.context_data ? JSON.stringify(e.context_data, null, 2) : '–'}</pre>
    </div>
  );
}

export function ErrorEvents() {
  const { t, locale } = useI18n();
  const canRead = useCan('error.read');
  const canUpdate = useCan('error.update');
  const qc = useQueryClient();
  const [filter, setFilter] = useState<ErrorFilter>({ resolved: 'false' });
  const [page, setPage] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const q = useQuery({
    queryKey: ['errors', filter, page],
    queryFn: () => ops.errors(filter, PAGE, page * PAGE),
    placeholderData: keepPreviousData,
    enabled: canRead,
  });
  const mark = useMutation({
    mutationFn: ({ id, resolved }: { id: string; resolved: boolean }) => ops.resolveError(id, resolved),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['errors'] }),
  });

  if (!canRead) return <Forbidden title={t('errors.title')} />;

  const set = (k: keyof ErrorFilter, v: string) => {
    setFilter((f) => ({ ...f, [k]: v }));
    setPage(0);
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <Bug size={20} aria-hidden /> {t('errors.title')}
        </h1>
      </div>
      <div className="toolbar">
        <label>
          {t('errors.status')}
          <select value={filter.resolved ?? ''} onChange={(e) => set('resolved', e.target.value)} data-testid="errors-status">
            <option value="false">{t('errors.open')}</option>
            <option value="true">{t('errors.resolved')}</option>
            <option value="">{t('errors.all')}</option>
          </select>
        </label>
        <label>
          {t('errors.severity')}
          <select value={filter.severity ?? ''} onChange={(e) => set('severity', e.target.value)} data-testid="errors-severity">
            <option value="">{t('errors.all')}</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {t(`errors.sev.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('errors.source')}
          <select value={filter.source ?? ''} onChange={(e) => set('source', e.target.value)} data-testid="errors-source">
            <option value="">{t('errors.all')}</option>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {t(`errors.src.${s}`)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {mark.isError && (
        <div className="alert" role="alert">
          {mark.error instanceof ApiError ? `${mark.error.code}: ${mark.error.message}` : String(mark.error)}
        </div>
      )}
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.data && (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="errors-table" data-stale={q.isPlaceholderData ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th>{t('errors.col.message')}</th>
                  <th>{t('errors.col.component')}</th>
                  <th className="hide-narrow">{t('errors.col.severity')}</th>
                  <th className="hide-narrow">{t('errors.col.seen')}</th>
                  <th>{t('errors.col.status')}</th>
                  <th>
                    <span className="sr-only">{t('workers.col.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {q.data.errors.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted">
                      {t('errors.empty')}
                    </td>
                  </tr>
                )}
                {q.data.errors.map((e) => (
                  <Fragment key={e.id}>
                    <tr data-error-id={e.id} data-resolved={e.resolved ? 'true' : 'false'}>
                      <td>
                        <button
                          className="link-button"
                          aria-expanded={open === e.id}
                          onClick={() => setOpen(open === e.id ? null : e.id)}
                          data-testid="error-toggle"
                        >
                          {open === e.id ? <ChevronDown size={16} aria-hidden /> : <ChevronRight size={16} aria-hidden />}
                          <span className="error-message">{e.message}</span>
                        </button>
                      </td>
                      <td>{(SOURCES as readonly string[]).includes(e.source_component) ? t(`errors.src.${e.source_component as 'kernel'}`) : e.source_component}</td>
                      <td className="hide-narrow">
                        <span className={`badge sev-${e.severity}`}>
                          {(SEVERITIES as readonly string[]).includes(e.severity) ? t(`errors.sev.${e.severity as 'error'}`) : e.severity}
                        </span>
                      </td>
                      <td className="hide-narrow small nowrap">{formatDate(e.created_at, locale)}</td>
                      <td>
                        <span className={`badge ${e.resolved ? 'badge-completed' : 'badge-queued'}`}>
                          {e.resolved ? t('errors.resolved') : t('errors.open')}
                        </span>
                      </td>
                      <td>
                        {canUpdate && (
                          <button
                            className="button"
                            disabled={mark.isPending}
                            onClick={() => mark.mutate({ id: e.id, resolved: !e.resolved })}
                            data-testid={e.resolved ? 'error-reopen' : 'error-resolve'}
                          >
                            {e.resolved ? t('errors.reopen') : t('errors.markResolved')}
                          </button>
                        )}
                      </td>
                    </tr>
                    {open === e.id && (
                      <tr className="detail-row">
                        <td colSpan={6}>
                          <Detail e={e} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={page} size={PAGE} total={q.data.total} onPage={setPage} testid="errors-pager" />
        </section>
      )}
    </div>
  );
}
