// A plugin's detail: info, capabilities, last error, its configuration as
// JSON (validated as one types; secrets only as `*_ref` references),
// Save, Enable/Disable and Test connection.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { ApiError } from '../../api';
import { ops, PLUGIN_TYPES, testError, type Plugin, type PluginTest, type PluginType } from '../../api/ops';
import { useCan } from '../../auth/Can';
import { useI18n } from '../../i18n';
import { formatDate, formatDuration } from '../format';
import { Dialog } from './Dialog';

// The server's rule (we_plugin_config_key_is_secret, spec §6.5): a member
// whose name ends like a secret must be a reference (`bind_password_ref:
// "env:NAME"`), never the secret; "********" stands for a stored one, kept.
const SECRET_ENDINGS = ['secret', 'password', 'passwd', 'token', 'secret_key', 'secret_access_key', 'api_key', 'private_key'];
export const SECRET_PLACEHOLDER = '********';

/** The members that would put a secret in the database. */
export function inlineSecrets(config: Record<string, unknown>): string[] {
  return Object.entries(config)
    .filter(([k, v]) => {
      const key = k.toLowerCase();
      if (key.endsWith('_ref') || v === null || v === SECRET_PLACEHOLDER) return false;
      return SECRET_ENDINGS.some((e) => key.endsWith(e));
    })
    .map(([k]) => k);
}

type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

function parse(text: string): Parsed {
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: '' };
    return { ok: true, value: v as Record<string, unknown> };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function describe(e: unknown): string {
  if (e instanceof ApiError) return `${e.code}: ${e.message}${e.details ? ` (${e.details})` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

export function PluginStateBadge({ plugin }: { plugin: Plugin }) {
  const { t } = useI18n();
  const s = plugin.enabled === false ? 'disabled' : plugin.state;
  const known = ['healthy', 'degraded', 'failed', 'disabled', 'unknown'].includes(s);
  return (
    <span className={`badge pbadge-${known ? s : 'other'}`} data-state={s}>
      {known ? t(`plugins.state.${s as 'healthy'}`) : s}
    </span>
  );
}

export function PluginDialog({ plugin, onClose }: { plugin: Plugin; onClose: () => void }) {
  const { t, locale } = useI18n();
  const qc = useQueryClient();
  const canUpdate = useCan('plugin.update');
  const canTest = useCan('plugin.test');
  const initial = useMemo(() => JSON.stringify(plugin.config ?? {}, null, 2), [plugin.config]);
  const [text, setText] = useState(initial);
  const [restart, setRestart] = useState(!!plugin.restart_required);
  const [saved, setSaved] = useState(false);
  const [testResult, setTestResult] = useState<PluginTest | null>(null);
  const parsed = parse(text);
  const secrets = parsed.ok ? inlineSecrets(parsed.value) : [];
  const dirty = text !== initial;

  const done = (p: Plugin) => {
    setRestart(!!p.restart_required);
    void qc.invalidateQueries({ queryKey: ['plugins'] });
  };
  const save = useMutation({
    mutationFn: (config: Record<string, unknown>) => ops.savePluginConfig(plugin.id, config),
    onSuccess: (p) => {
      setSaved(true);
      done(p);
    },
    onMutate: () => setSaved(false),
  });
  const toggle = useMutation({ mutationFn: (on: boolean) => ops.enablePlugin(plugin.id, on), onSuccess: done });
  const test = useMutation({
    mutationFn: () => ops.testPlugin(plugin.id, dirty && parsed.ok ? parsed.value : undefined),
    onMutate: () => setTestResult(null),
    onSuccess: setTestResult,
  });

  const enabled = plugin.enabled !== false;
  return (
    <Dialog
      title={plugin.id}
      onClose={onClose}
      testid="plugin-dialog"
      wide
      footer={
        <>
          {canTest && (
            <button className="button" onClick={() => test.mutate()} disabled={test.isPending || (dirty && !parsed.ok)} data-testid="plugin-test">
              {test.isPending ? t('plugins.testing') : t('plugins.test')}
            </button>
          )}
          {canUpdate && (
            <button className="button" onClick={() => toggle.mutate(!enabled)} disabled={toggle.isPending} data-testid="plugin-toggle">
              {enabled ? t('plugins.disable') : t('plugins.enable')}
            </button>
          )}
          <span className="spacer" />
          {canUpdate && (
            <button
              className="button primary"
              onClick={() => parsed.ok && save.mutate(parsed.value)}
              disabled={!parsed.ok || !dirty || save.isPending}
              data-testid="plugin-save"
            >
              {t('plugins.save')}
            </button>
          )}
        </>
      }
    >
      {restart && (
        <div className="warn-box" role="status" data-testid="plugin-restart">
          {t('plugins.restartRequired')}
        </div>
      )}
      <dl className="facts">
        <dt>{t('plugins.col.type')}</dt>
        <dd>{plugin.type && (PLUGIN_TYPES as readonly string[]).includes(plugin.type) ? t(`plugins.type.${plugin.type as PluginType}`) : plugin.type ?? '–'}</dd>
        <dt>{t('plugins.col.state')}</dt>
        <dd>
          <PluginStateBadge plugin={plugin} />
        </dd>
        <dt>{t('plugins.col.version')}</dt>
        <dd>
          {plugin.version ?? '–'}
          {plugin.protocol_version != null && <span className="muted"> · {t('plugins.protocol', { v: String(plugin.protocol_version) })}</span>}
        </dd>
        <dt>{t('plugins.col.priority')}</dt>
        <dd>{plugin.priority ?? '–'}</dd>
        <dt>{t('plugins.loadedAt')}</dt>
        <dd>{formatDate(plugin.loaded_at, locale)}</dd>
        <dt>{t('plugins.col.uptime')}</dt>
        <dd>{formatDuration(plugin.uptime_s)}</dd>
        <dt>{t('plugins.configSource')}</dt>
        <dd>{plugin.config_source ?? '–'}</dd>
      </dl>
      {plugin.error && (
        <div className="alert" data-testid="plugin-last-error">
          {t('plugins.lastError', { error: plugin.error })}
        </div>
      )}
      {plugin.capabilities != null && (
        <details className="ops-details">
          <summary>{t('plugins.capabilities')}</summary>
          <pre className="small" data-testid="plugin-capabilities">
            {JSON.stringify(plugin.capabilities, null, 2)}
          </pre>
        </details>
      )}
      <label className="json-editor">
        <span>{t('plugins.config')}</span>
        <textarea
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setSaved(false);
          }}
          spellCheck={false}
          rows={10}
          readOnly={!canUpdate}
          aria-invalid={!parsed.ok}
          aria-describedby="plugin-config-state"
          className={parsed.ok ? '' : 'invalid'}
          data-testid="plugin-config"
        />
      </label>
      <div id="plugin-config-state" aria-live="polite">
        {!parsed.ok && (
          <p className="field-error" data-testid="plugin-config-invalid">
            {parsed.error ? t('plugins.invalidJson', { error: parsed.error }) : t('plugins.notObject')}
          </p>
        )}
        {secrets.length > 0 && (
          <p className="field-warn" data-testid="plugin-secret-warning">
            {t('plugins.secretWarning', { keys: secrets.join(', ') })}
          </p>
        )}
        {plugin.config_keys && plugin.config_keys.length > 0 && (
          <p className="muted small">{t('plugins.configKeys', { keys: plugin.config_keys.join(', ') })}</p>
        )}
      </div>
      {save.isError && (
        <div className="alert" role="alert" data-testid="plugin-save-error">
          {describe(save.error)}
        </div>
      )}
      {saved && !save.isError && (
        <div className="notice" role="status" data-testid="plugin-saved">
          {t('plugins.saved')}
        </div>
      )}
      {toggle.isError && (
        <div className="alert" role="alert">
          {describe(toggle.error)}
        </div>
      )}
      {test.isError && (
        <div className="alert" role="alert" data-testid="plugin-test-result" data-ok="false">
          {describe(test.error)}
        </div>
      )}
      {testResult && (
        <div
          className={testResult.ok ? 'notice' : 'alert'}
          role="status"
          data-testid="plugin-test-result"
          data-ok={testResult.ok ? 'true' : 'false'}
        >
          {testResult.ok
            ? t('plugins.testOk', { ms: Math.round((testResult.latency_ms ?? 0) * 10) / 10 })
            : t('plugins.testFailed', { error: testError(testResult) })}
          {testResult.ok && testResult.detail ? ` · ${testResult.detail}` : ''}
        </div>
      )}
    </Dialog>
  );
}
