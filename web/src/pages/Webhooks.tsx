// The webhooks (spec §20, admin): URL, events, enabled and the newest
// delivery per webhook; create (the signing secret is shown once), edit,
// delete. Deliveries, ping, replay and secret rotation are on the detail
// page.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Plus, Webhook as WebhookIcon } from 'lucide-react';
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { settings, type Webhook } from '../api/settings';
import { useCan } from '../auth/Can';
import { ConfirmDialog } from '../components/ops/Dialog';
import { Forbidden } from '../components/ops/Forbidden';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { EnabledBadge, EventChips } from '../components/settings/badges';
import { LastDelivery } from '../components/settings/LastDelivery';
import { WebhookSecret } from '../components/settings/WebhookSecret';
import { WebhookDialog } from '../components/settings/WebhookDialog';
import { useI18n } from '../i18n';
import '../styles/ops.css';
import '../styles/settings.css';

export function Webhooks() {
  const { t } = useI18n();
  const canRead = useCan('webhook.read');
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['webhooks'], queryFn: settings.webhooks, enabled: canRead });
  const [editing, setEditing] = useState<Webhook | 'new' | null>(null);
  const [created, setCreated] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const del = useMutation({
    mutationFn: (id: string) => settings.deleteWebhook(id),
    onSuccess: () => {
      setDeleting(null);
      void qc.invalidateQueries({ queryKey: ['webhooks'] });
    },
  });

  if (!canRead) return <Forbidden title={t('settings.webhooks.title')} />;
  const hooks = q.data?.webhooks ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <WebhookIcon size={20} aria-hidden /> {t('settings.webhooks.title')}
        </h1>
        <span className="spacer" />
        <button className="button primary" onClick={() => setEditing('new')} data-testid="webhook-new">
          <Plus size={16} aria-hidden /> {t('settings.webhooks.new')}
        </button>
      </div>
      <p className="muted">{t('settings.webhooks.intro')}</p>
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.isPending && <p className="muted">{t('common.loading')}</p>}
      {q.data && (
        <section className="card">
          <div className="table-wrap">
            <table className="settings-table" data-testid="webhooks-table">
              <thead>
                <tr>
                  <th>{t('settings.webhooks.url')}</th>
                  <th className="hide-narrow">{t('settings.webhooks.events')}</th>
                  <th className="hide-narrow">{t('settings.webhooks.enabled')}</th>
                  <th>{t('settings.webhooks.last')}</th>
                  <th>
                    <span className="sr-only">{t('settings.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {hooks.length === 0 && (
                  <tr>
                    <td colSpan={5} className="muted">
                      {t('settings.webhooks.empty')}
                    </td>
                  </tr>
                )}
                {hooks.map((w) => (
                  <tr key={w.id} data-webhook-id={w.id}>
                    <td className="settings-url">
                      <Link to={`/settings/webhooks/${encodeURIComponent(w.id)}`} className="mono" data-testid="webhook-link">
                        {w.url}
                      </Link>
                      {w.description && <div className="muted small">{w.description}</div>}
                      {/* the enabled column is hidden on a phone: a disabled one says so here */}
                      {!w.enabled && (
                        <div className="show-narrow">
                          <EnabledBadge on={false} />
                        </div>
                      )}
                    </td>
                    <td className="hide-narrow">
                      <EventChips events={w.events} />
                    </td>
                    <td className="hide-narrow">
                      <EnabledBadge on={w.enabled} />
                    </td>
                    <td>
                      <LastDelivery id={w.id} />
                    </td>
                    <td>
                      <div className="row-actions">
                        <button className="button" onClick={() => setEditing(w)} data-testid="webhook-edit">
                          {t('settings.edit')}
                        </button>
                        <button className="button danger" onClick={() => setDeleting(w)} data-testid="webhook-delete">
                          {t('settings.delete')}
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {editing && (
        <WebhookDialog
          hook={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={(w) => {
            setEditing(null);
            if (w.secret) setCreated(w);
          }}
        />
      )}
      {created?.secret && <WebhookSecret secret={created.secret} onClose={() => setCreated(null)} />}
      {deleting && (
        <ConfirmDialog
          title={t('settings.webhooks.deleteTitle')}
          message={t('settings.webhooks.deleteConfirm', { url: deleting.url })}
          confirmLabel={t('settings.delete')}
          danger
          busy={del.isPending}
          onConfirm={() => del.mutate(deleting.id)}
          onClose={() => setDeleting(null)}
        >
          <ApiErrorLine error={del.error} />
        </ConfirmDialog>
      )}
    </div>
  );
}
