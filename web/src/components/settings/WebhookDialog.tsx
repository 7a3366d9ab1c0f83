// Create or edit a webhook: URL, the events it wants (none ticked = every
// event), enabled, description. The server validates (http/https, no
// credentials, known events); its §11 error shows in the dialog.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { settings, WEBHOOK_EVENTS, type Webhook } from '../../api/settings';
import { useT } from '../../i18n';
import { Dialog } from '../ops/Dialog';
import { ApiErrorLine } from './ApiErrorLine';

export function WebhookDialog({ hook, onClose, onSaved }: { hook?: Webhook; onClose: () => void; onSaved: (w: Webhook) => void }) {
  const t = useT();
  const qc = useQueryClient();
  const [url, setUrl] = useState(hook?.url ?? '');
  const [events, setEvents] = useState<string[]>(hook?.events ?? []);
  const [enabled, setEnabled] = useState(hook?.enabled ?? true);
  const [description, setDescription] = useState(hook?.description ?? '');
  // events a newer service knows and this page does not: kept, shown
  const known: readonly string[] = WEBHOOK_EVENTS;
  const choices = [...known, ...events.filter((e) => !known.includes(e))];

  const save = useMutation({
    mutationFn: () => {
      const d = description.trim();
      // an empty description is left out, unless it clears one
      const body = { url: url.trim(), events, enabled, ...(d || hook?.description ? { description: d } : {}) };
      return hook ? settings.updateWebhook(hook.id, body) : settings.createWebhook(body);
    },
    onSuccess: (w) => {
      void qc.invalidateQueries({ queryKey: ['webhooks'] });
      void qc.invalidateQueries({ queryKey: ['webhook', w.id] });
      onSaved(w);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const toggle = (ev: string, on: boolean) => setEvents((cur) => (on ? [...cur, ev] : cur.filter((x) => x !== ev)));

  return (
    <Dialog
      title={hook ? t('settings.webhooks.edit') : t('settings.webhooks.new')}
      onClose={onClose}
      testid="webhook-dialog"
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            {t('ops.cancel')}
          </button>
          <span className="spacer" />
          <button type="submit" form="webhook-form" className="button primary" disabled={save.isPending || !url.trim()} data-testid="webhook-save">
            {hook ? t('settings.save') : t('settings.create')}
          </button>
        </>
      }
    >
      <form id="webhook-form" className="settings-form" onSubmit={submit}>
        <label>
          {t('settings.webhooks.url')}
          <input
            type="url"
            required
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder={t('settings.webhooks.urlPlaceholder')}
            data-testid="webhook-url"
          />
        </label>
        <fieldset className="settings-events" data-testid="webhook-events">
          <legend>{t('settings.webhooks.events')}</legend>
          <p className="muted small">{t('settings.webhooks.eventsHint')}</p>
          {choices.map((ev) => (
            <label key={ev} className="check">
              <input type="checkbox" checked={events.includes(ev)} onChange={(e) => toggle(ev, e.target.checked)} value={ev} />
              <span className="mono">{ev}</span>
            </label>
          ))}
        </fieldset>
        <label className="check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} data-testid="webhook-enabled" />
          {t('settings.webhooks.enabled')}
        </label>
        <label>
          {t('settings.webhooks.description')}
          <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1024} data-testid="webhook-description" />
        </label>
      </form>
      <ApiErrorLine error={save.error} testid="webhook-error" />
    </Dialog>
  );
}
