// The audit log (admin, audit.read): filters by user, action, resource
// type and date range, paged; the same filter exported as CSV (the API's
// ?format=csv) and saved as a file.

import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { Download, ScrollText, Search } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { ApiError } from '../api';
import { ops, type AuditFilter } from '../api/ops';
import { useCan } from '../auth/Can';
import { formatDate } from '../components/format';
import { Forbidden } from '../components/ops/Forbidden';
import { Pager } from '../components/ops/Pager';
import { QueryError } from '../components/QueryError';
import { useI18n } from '../i18n';
import '../styles/ops.css';

const PAGE = 50;

/** The picked last day is included: the API's `until` is exclusive. */
function dayAfter(d: string): string {
  const t = new Date(`${d}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

export function Audit() {
  const { t, locale } = useI18n();
  const canRead = useCan('audit.read');
  const [form, setForm] = useState<AuditFilter>({});
  const [filter, setFilter] = useState<AuditFilter>({});
  const [page, setPage] = useState(0);
  const apiFilter: AuditFilter = { ...filter, until: filter.until ? dayAfter(filter.until) : undefined };
  const q = useQuery({
    queryKey: ['audit', apiFilter, page],
    queryFn: () => ops.audit(apiFilter, PAGE, page * PAGE),
    placeholderData: keepPreviousData,
    enabled: canRead,
  });
  const csv = useMutation({ mutationFn: () => ops.auditCsv(apiFilter) });

  if (!canRead) return <Forbidden title={t('audit.title')} />;

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilter(form);
    setPage(0);
  }
  const field = (k: keyof AuditFilter) => ({
    value: form[k] ?? '',
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value })),
  });

  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <ScrollText size={20} aria-hidden /> {t('audit.title')}
        </h1>
        <span className="spacer" />
        <button className="button" onClick={() => csv.mutate()} disabled={csv.isPending} data-testid="audit-csv">
          <Download size={16} aria-hidden /> {t('audit.exportCsv')}
        </button>
      </div>
      {csv.isError && (
        <div className="alert" role="alert">
          {csv.error instanceof ApiError ? `${csv.error.code}: ${csv.error.message}` : String(csv.error)}
        </div>
      )}
      <form className="card ops-filters" onSubmit={apply} data-testid="audit-filters">
        <label>
          {t('audit.user')}
          <input {...field('user')} data-testid="audit-user" />
        </label>
        <label>
          {t('audit.action')}
          <input {...field('action')} placeholder={t('audit.actionHint')} data-testid="audit-action" />
        </label>
        <label>
          {t('audit.resourceType')}
          <input {...field('resource_type')} placeholder={t('audit.resourceHint')} data-testid="audit-resource" />
        </label>
        <label>
          {t('audit.since')}
          <input type="date" {...field('since')} data-testid="audit-since" />
        </label>
        <label>
          {t('audit.until')}
          <input type="date" {...field('until')} data-testid="audit-until" />
        </label>
        <div className="ops-filter-actions">
          <button type="submit" className="button primary" data-testid="audit-apply">
            <Search size={16} aria-hidden /> {t('audit.apply')}
          </button>
          <button
            type="button"
            className="button"
            onClick={() => {
              setForm({});
              setFilter({});
              setPage(0);
            }}
          >
            {t('audit.reset')}
          </button>
        </div>
      </form>
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.data && (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="audit-table" data-stale={q.isPlaceholderData ? 'true' : 'false'}>
              <thead>
                <tr>
                  <th>{t('audit.col.time')}</th>
                  <th>{t('audit.col.user')}</th>
                  <th>{t('audit.col.action')}</th>
                  <th>{t('audit.col.resource')}</th>
                  <th>{t('audit.col.result')}</th>
                  <th className="hide-narrow">{t('audit.col.client')}</th>
                  <th className="hide-narrow">{t('audit.col.request')}</th>
                </tr>
              </thead>
              <tbody>
                {q.data.entries.length === 0 && (
                  <tr>
                    <td colSpan={7} className="muted">
                      {t('audit.empty')}
                    </td>
                  </tr>
                )}
                {q.data.entries.map((e) => (
                  <tr key={e.id} data-action={e.action} data-resource={`${e.resource_type ?? ''}/${e.resource_id ?? ''}`}>
                    <td className="small nowrap">{formatDate(e.timestamp, locale)}</td>
                    <td>{e.username ?? e.user_id ?? '–'}</td>
                    <td className="mono small">{e.action}</td>
                    <td className="mono small">
                      {e.resource_type ?? ''}
                      {e.resource_id ? `/${e.resource_id}` : ''}
                    </td>
                    <td>
                      <span className={`badge ${e.result === 'success' ? 'badge-completed' : 'badge-failed'}`} title={e.error_code ?? undefined}>
                        {t(`audit.result.${e.result}`)} · {e.status}
                      </span>
                    </td>
                    <td className="hide-narrow mono small">{e.client_ip ?? '–'}</td>
                    <td className="hide-narrow mono small ellipsis">{e.request_id ?? '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={page} size={PAGE} total={q.data.total} onPage={setPage} testid="audit-pager" />
        </section>
      )}
    </div>
  );
}
