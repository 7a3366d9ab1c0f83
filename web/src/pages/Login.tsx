import { useQuery } from '@tanstack/react-query';
import { KeyRound, LogIn } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api';
import { useAuth } from '../auth/AuthContext';
import { LocaleSelect } from '../components/Shell';
import { useT } from '../i18n';

export function Login() {
  const t = useT();
  const { login } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const config = useQuery({ queryKey: ['auth-config'], queryFn: api.authConfig, retry: 1 });

  const oidc = config.data?.methods.some((m) => m.login) ? config.data.login_url ?? '/v1/auth/login' : null;
  // the form only where a provider checks passwords (basic, LDAP), or when
  // the config could not be read
  const passwords = !config.data || config.data.methods.some((m) => m.method === 'basic' || m.method === 'ldap');

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login({ kind: 'basic', username, password });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login-page">
      <form className="card login-card" onSubmit={submit} data-testid="login-form">
        <div className="login-head">
          <h1>{t('login.title')}</h1>
          <LocaleSelect />
        </div>
        {oidc && (
          <>
            <a
              className="button primary wide"
              href={`${oidc}?redirect=${encodeURIComponent('/')}`}
              data-testid="login-oidc"
            >
              <KeyRound size={18} aria-hidden /> {t('login.oidc')}
            </a>
            {passwords && <div className="or">{t('login.or')}</div>}
          </>
        )}
        {passwords && (
          <>
            <label>
              {t('login.username')}
              <input
                name="username"
                autoComplete="username"
                value={username}
                onChange={(e) => setUsername(e.target.value)}
                required
              />
            </label>
            <label>
              {t('login.password')}
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                required
              />
            </label>
            {error && (
              <div className="alert" role="alert" data-testid="login-error">
                {t('login.failed', { message: error })}
              </div>
            )}
            <button className="button primary wide" type="submit" disabled={busy}>
              <LogIn size={18} aria-hidden /> {t('login.submit')}
            </button>
          </>
        )}
      </form>
    </div>
  );
}
