// One webhook (admin): its settings, Ping, Rotate secret (the new secret
// shown once), Edit, Delete, and its deliveries (event, state, HTTP status,
// attempts, times, next retry) with Replay. The deliveries poll while one
// is still on its way, so a ping's answer shows without a reload.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowLeft, RotateCcw, Send, Webhook as WebhookIcon } from 'lucide-react';
import { Fragment, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { settings, SIGNATURE_HEADER } from '../api/settings';
import { useCan } from '../auth/Can';
import { formatDate } from '../components/format';
import { ConfirmDialog } from '../components/ops/Dialog';
import { Forbidden } from '../components/ops/Forbidden';
import { Pager } from '../components/ops/Pager';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { EnabledBadge, EventChips } from '../components/settings/badges';
import { DeliveryBadge } from '../components/settings/LastDelivery';
import { WebhookDialog } from '../components/settings/WebhookDialog';
import { WebhookSecret } from '../components/settings/WebhookSecret';
import { useI18n } from '../i18n';
import '../styles/ops.css';
import '../styles/settings.css';

const PAGE = 20;

export function WebhookDetail() {
  const { t, locale } = useI18n();
  const { id = '' } = useParams();
  const canRead = useCan('webhook.read');
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [page, setPage] = useState(0);
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState<'rotate' | 'delete' | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [openLog, setOpenLog] = useState<string | null>(null);

  const hook = useQuery({ queryKey: ['webhook', id], queryFn: () => settings.webhook(id), enabled: canRead && !!id });
  const deliveries = useQuery({
    queryKey: ['webhook', id, 'deliveries', page],
    queryFn: () => settings.deliveries(id, PAGE, page * PAGE),
    enabled: canRead && !!id && hook.isSuccess,
    // a delivery still on its way: look again soon
    refetchInterval: (q) => (q.state.data?.deliveries.some((d) => d.state === 'pending' || d.state === 'delivering') ? 1000 : false),
  });
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['webhook', id] });
    void qc.invalidateQueries({ queryKey: ['webhooks'] });
  };
  const ping = useMutation({ mutationFn: () => settings.ping(id), onSuccess: () => (page ? setPage(0) : refresh()) });
  const replay = useMutation({ mutationFn: (d: string) => settings.replay(id, d), onSuccess: () => (page ? setPage(0) : refresh()) });
  const rotate = useMutation({
    mutationFn: () => settings.rotateSecret(id),
    onSuccess: (w) => {
      setConfirm(null);
      setSecret(w.secret ?? null);
      refresh();
    },
  });
  const del = useMutation({
    mutationFn: () => settings.deleteWebhook(id),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['webhooks'] });
      navigate('/settings/webhooks');
    },
  });

  if (!canRead) return <Forbidden title={t('settings.webhooks.title')} />;
  const w = hook.data;
  const list = deliveries.data?.deliveries ?? [];
  return (
    <div className="page">
      <Link to="/settings/webhooks" className="back">
        <ArrowLeft size={16} aria-hidden /> {t('settings.webhooks.back')}
      </Link>
      {hook.isError && <QueryError error={hook.error} retry={() => void hook.refetch()} />}
      {hook.isPending && <p className="muted">{t('common.loading')}</p>}
      {w && (
        <>
          <div className="page-head">
            <h1 className="settings-title">
              <WebhookIcon size={20} aria-hidden /> <span className="mono">{w.url}</span>
            </h1>
          </div>
          <section className="card" data-testid="webhook-facts">
            <div className="row-actions settings-actions">
              <button className="button" onClick={() => ping.mutate()} disabled={ping.isPending} data-testid="webhook-ping">
                <Send size={16} aria-hidden /> {t('settings.webhooks.ping')}
              </button>
              {w.secret_source === 'derived' && (
                <button className="button" onClick={() => setConfirm('rotate')} data-testid="webhook-rotate">
                  <RotateCcw size={16} aria-hidden /> {t('settings.webhooks.rotate')}
                </button>
              )}
              <button className="button" onClick={() => setEditing(true)} data-testid="webhook-edit">
                {t('settings.edit')}
              </button>
              <button className="button danger" onClick={() => setConfirm('delete')} data-testid="webhook-delete">
                {t('settings.delete')}
              </button>
            </div>
            <ApiErrorLine error={ping.error ?? replay.error} />
            <dl className="facts">
              <dt>{t('settings.webhooks.events')}</dt>
              <dd>
                <EventChips events={w.events} />
              </dd>
              <dt>{t('settings.webhooks.enabled')}</dt>
              <dd>
                <EnabledBadge on={w.enabled} />
              </dd>
              <dt>{t('settings.webhooks.description')}</dt>
              <dd>{w.description || '–'}</dd>
              <dt>{t('settings.webhooks.secret')}</dt>
              <dd>
                {w.secret_source === 'secret_ref' ? (
                  <span className="mono">{w.secret_ref}</span>
                ) : (
                  t(`settings.webhooks.source.${w.secret_source === 'user' ? 'user' : 'derived'}`)
                )}
                <div className="muted small">{t('settings.webhooks.signedWith', { header: SIGNATURE_HEADER })}</div>
              </dd>
              <dt>{t('settings.created')}</dt>
              <dd>{formatDate(w.created_at, locale)}</dd>
              <dt>{t('settings.updated')}</dt>
              <dd>{formatDate(w.updated_at, locale)}</dd>
            </dl>
          </section>
          <section className="card">
            <h2>{t('settings.deliveries.title')}</h2>
            {deliveries.isError && <QueryError error={deliveries.error} retry={() => void deliveries.refetch()} />}
            <div className="table-wrap">
              <table className="settings-deliveries" data-testid="deliveries-table" data-total={deliveries.data?.total ?? ''}>
                <thead>
                  <tr>
                    <th>{t('settings.deliveries.event')}</th>
                    <th>{t('settings.deliveries.status')}</th>
                    <th className="hide-narrow">{t('settings.deliveries.attempts')}</th>
                    <th>{t('settings.deliveries.time')}</th>
                    <th className="hide-narrow">{t('settings.deliveries.next')}</th>
                    <th>
                      <span className="sr-only">{t('settings.actions')}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {deliveries.data && list.length === 0 && (
                    <tr>
                      <td colSpan={6} className="muted">
                        {t('settings.deliveries.empty')}
                      </td>
                    </tr>
                  )}
                  {list.map((d) => (
                    <Fragment key={d.id}>
                      <tr data-delivery-id={d.id} data-state={d.state} data-status={d.last_status ?? ''} data-replay-of={d.replay_of ?? ''}>
                        <td>
                          <button className="link-button mono" onClick={() => setOpenLog(openLog === d.id ? null : d.id)} aria-expanded={openLog === d.id}>
                            {d.event_type}
                          </button>
                          {d.replay_of && <div className="muted small">{t('settings.deliveries.replayed')}</div>}
                        </td>
                        <td>
                          <DeliveryBadge d={d} />
                        </td>
                        <td className="hide-narrow">{d.attempts}</td>
                        <td className="nowrap">{formatDate(d.delivered_at ?? d.updated_at ?? d.created_at, locale)}</td>
                        <td className="hide-narrow nowrap">{formatDate(d.next_attempt_at, locale)}</td>
                        <td>
                          <button
                            className="button"
                            onClick={() => replay.mutate(d.id)}
                            disabled={replay.isPending}
                            data-testid="delivery-replay"
                          >
                            {t('settings.deliveries.replay')}
                          </button>
                        </td>
                      </tr>
                      {openLog === d.id && (
                        <tr className="detail-row">
                          <td colSpan={6}>
                            {d.last_error && <p className="field-error">{d.last_error}</p>}
                            <ol className="settings-log" data-testid="delivery-log">
                              {(d.log ?? []).map((a) => (
                                <li key={a.attempt}>
                                  {formatDate(a.at, locale)} · {a.status || t('settings.deliveries.noAnswer')}
                                  {a.error ? ` · ${a.error}` : ''}
                                  {a.duration_ms != null ? ` · ${a.duration_ms} ms` : ''}
                                </li>
                              ))}
                            </ol>
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  ))}
                </tbody>
              </table>
            </div>
            {deliveries.data && deliveries.data.total > PAGE && (
              <Pager page={page} size={PAGE} total={deliveries.data.total} onPage={setPage} testid="deliveries-pager" />
            )}
          </section>
        </>
      )}
      {editing && w && <WebhookDialog hook={w} onClose={() => setEditing(false)} onSaved={() => setEditing(false)} />}
      {secret && <WebhookSecret secret={secret} onClose={() => setSecret(null)} />}
      {confirm === 'rotate' && (
        <ConfirmDialog
          title={t('settings.webhooks.rotate')}
          message={t('settings.webhooks.rotateConfirm')}
          confirmLabel={t('settings.webhooks.rotate')}
          busy={rotate.isPending}
          onConfirm={() => rotate.mutate()}
          onClose={() => setConfirm(null)}
        >
          <ApiErrorLine error={rotate.error} />
        </ConfirmDialog>
      )}
      {confirm === 'delete' && w && (
        <ConfirmDialog
          title={t('settings.webhooks.deleteTitle')}
          message={t('settings.webhooks.deleteConfirm', { url: w.url })}
          confirmLabel={t('settings.delete')}
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate()}
          onClose={() => setConfirm(null)}
        >
          <ApiErrorLine error={del.error} />
        </ConfirmDialog>
      )}
    </div>
  );
}
