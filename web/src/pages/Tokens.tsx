// API tokens (docs/api.md "API tokens", admin): name, role, prefix, times;
// create (the token is shown once, never again: only its digest is
// stored), revoke. Below, the users the auth providers can list
// (GET /v1/users), read-only.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { KeyRound, Plus } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { settings, type ApiToken } from '../api/settings';
import { useAuth } from '../auth/AuthContext';
import { useCan } from '../auth/Can';
import { formatDate } from '../components/format';
import { ConfirmDialog, Dialog } from '../components/ops/Dialog';
import { Forbidden } from '../components/ops/Forbidden';
import { QueryError } from '../components/QueryError';
import { ApiErrorLine } from '../components/settings/ApiErrorLine';
import { SecretOnce } from '../components/settings/SecretOnce';
import { useI18n } from '../i18n';
import '../styles/ops.css';
import '../styles/settings.css';

const ROLES = ['viewer', 'operator', 'admin'] as const;
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 };
// expiry choices in days; 0 = never
const EXPIRY_DAYS = [0, 7, 30, 90, 365] as const;

function TokenState({ token }: { token: ApiToken }) {
  const { t } = useI18n();
  const s = token.active ? 'active' : token.revoked_at ? 'revoked' : 'expired';
  return (
    <span className={`badge tbadge-${s}`} data-state={s}>
      {t(`settings.tokens.state.${s}`)}
    </span>
  );
}

function CreateTokenDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (t: ApiToken) => void }) {
  const { t } = useI18n();
  const { me } = useAuth();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('viewer');
  const [days, setDays] = useState<number>(30);
  const create = useMutation({
    mutationFn: () => settings.createToken({ name: name.trim(), role, ...(days ? { expires_in_s: days * 86400 } : {}) }),
    onSuccess: (tok) => {
      void qc.invalidateQueries({ queryKey: ['tokens'] });
      onCreated(tok);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  // never above the creator's own role (the API refuses it too)
  const mine = RANK[me?.role ?? 'viewer'] ?? 1;
  return (
    <Dialog
      title={t('settings.tokens.new')}
      onClose={onClose}
      testid="token-dialog"
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            {t('ops.cancel')}
          </button>
          <span className="spacer" />
          <button type="submit" form="token-form" className="button primary" disabled={create.isPending || !name.trim()} data-testid="token-create">
            {t('settings.create')}
          </button>
        </>
      }
    >
      <form id="token-form" className="settings-form" onSubmit={submit}>
        <label>
          {t('settings.tokens.name')}
          <input required maxLength={128} value={name} onChange={(e) => setName(e.target.value)} data-testid="token-name" />
        </label>
        <label>
          {t('settings.tokens.role')}
          <select value={role} onChange={(e) => setRole(e.target.value)} data-testid="token-role">
            {ROLES.filter((r) => RANK[r]! <= mine).map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('settings.tokens.expiry')}
          <select value={days} onChange={(e) => setDays(Number(e.target.value))} data-testid="token-expiry">
            {EXPIRY_DAYS.map((d) => (
              <option key={d} value={d}>
                {d ? t('settings.tokens.days', { n: d }) : t('settings.tokens.never')}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ApiErrorLine error={create.error} testid="token-error" />
    </Dialog>
  );
}

function Users() {
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['users'], queryFn: settings.users });
  const users = q.data?.users ?? [];
  return (
    <section className="card" data-testid="users-card">
      <h2>{t('settings.users.title')}</h2>
      <p className="muted small">{t('settings.users.hint')}</p>
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.data && users.length === 0 && <p className="muted">{t('settings.users.empty')}</p>}
      {users.length > 0 && (
        <div className="table-wrap">
          <table data-testid="users-table">
            <thead>
              <tr>
                <th>{t('settings.users.username')}</th>
                <th className="hide-narrow">{t('settings.users.name')}</th>
                <th>{t('settings.tokens.role')}</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.user_id || u.username} data-username={u.username}>
                  <td className="mono">{u.username}</td>
                  <td className="hide-narrow">{u.display_name ?? u.email ?? '–'}</td>
                  <td>{ROLES.includes(u.role as 'viewer') ? t(`role.${u.role as 'viewer'}`) : u.role}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function Tokens() {
  const { t, locale } = useI18n();
  const canRead = useCan('token.read');
  const canUsers = useCan('user.read');
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['tokens'], queryFn: settings.tokens, enabled: canRead });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ApiToken | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const revoke = useMutation({
    mutationFn: (id: string) => settings.revokeToken(id),
    onSuccess: () => {
      setRevoking(null);
      void qc.invalidateQueries({ queryKey: ['tokens'] });
    },
  });

  if (!canRead) return <Forbidden title={t('settings.tokens.title')} />;
  const tokens = q.data ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          <KeyRound size={20} aria-hidden /> {t('settings.tokens.title')}
        </h1>
        <span className="spacer" />
        <button className="button primary" onClick={() => setCreating(true)} data-testid="token-new">
          <Plus size={16} aria-hidden /> {t('settings.tokens.new')}
        </button>
      </div>
      <p className="muted">{t('settings.tokens.intro')}</p>
      {q.isError && <QueryError error={q.error} retry={() => void q.refetch()} />}
      {q.isPending && <p className="muted">{t('common.loading')}</p>}
      {q.data && (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="tokens-table">
              <thead>
                <tr>
                  <th>{t('settings.tokens.name')}</th>
                  <th>{t('settings.tokens.role')}</th>
                  <th className="hide-narrow">{t('settings.tokens.prefix')}</th>
                  <th className="hide-narrow">{t('settings.created')}</th>
                  <th className="hide-narrow">{t('settings.tokens.lastUsed')}</th>
                  <th className="hide-narrow">{t('settings.tokens.expires')}</th>
                  <th>{t('settings.tokens.stateCol')}</th>
                  <th>
                    <span className="sr-only">{t('settings.actions')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.length === 0 && (
                  <tr>
                    <td colSpan={8} className="muted">
                      {t('settings.tokens.empty')}
                    </td>
                  </tr>
                )}
                {tokens.map((tok) => (
                  <tr key={tok.id} data-token-id={tok.id} data-active={tok.active ? 'true' : 'false'}>
                    <td>{tok.name}</td>
                    <td>{ROLES.includes(tok.role as 'viewer') ? t(`role.${tok.role as 'viewer'}`) : tok.role}</td>
                    <td className="hide-narrow mono">{tok.prefix}</td>
                    <td className="hide-narrow nowrap">{formatDate(tok.created_at, locale)}</td>
                    <td className="hide-narrow nowrap">{tok.last_used_at ? formatDate(tok.last_used_at, locale) : t('settings.tokens.notUsed')}</td>
                    <td className="hide-narrow nowrap">{tok.expires_at ? formatDate(tok.expires_at, locale) : t('settings.tokens.never')}</td>
                    <td>
                      <TokenState token={tok} />
                    </td>
                    <td>
                      {tok.active && (
                        <button className="button danger" onClick={() => setRevoking(tok)} data-testid="token-revoke">
                          {t('settings.tokens.revoke')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {canUsers && <Users />}
      {creating && (
        <CreateTokenDialog
          onClose={() => setCreating(false)}
          onCreated={(tok) => {
            setCreating(false);
            setCreated(tok);
          }}
        />
      )}
      {created?.token && (
        <SecretOnce title={t('settings.tokens.createdTitle', { name: created.name })} secret={created.token} warning={t('settings.tokens.once')} onClose={() => setCreated(null)} testid="token-secret">
          <p className="small">{t('settings.tokens.usage')}</p>
          <pre className="settings-code small">Authorization: Bearer {created.prefix}</pre>
        </SecretOnce>
      )}
      {revoking && (
        <ConfirmDialog
          title={t('settings.tokens.revoke')}
          message={t('settings.tokens.revokeConfirm', { name: revoking.name })}
          confirmLabel={t('settings.tokens.revoke')}
          danger
          busy={revoke.isPending}
          onConfirm={() => revoke.mutate(revoking.id)}
          onClose={() => setRevoking(null)}
        >
          <ApiErrorLine error={revoke.error} />
        </ConfirmDialog>
      )}
    </div>
  );
}
