// Who is logged in: the credentials (sessionStorage, src/api/client.ts)
// checked against GET /v1/auth/me, which also gives the role for RBAC.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import {
  api,
  ApiError,
  loadCredentials,
  saveCredentials,
  setUnauthorizedHandler,
  type Credentials,
  type Me,
} from '../api';
import { ws } from '../api/ws';

interface Auth {
  me: Me | undefined;
  loading: boolean;
  /** Stores the credentials and checks them; throws the ApiError of a refusal. */
  login: (c: Credentials) => Promise<Me>;
  logout: () => Promise<void>;
}

const Ctx = createContext<Auth | null>(null);

/** The OIDC callback redirects back with the tokens in the URL fragment. */
function takeFragmentTokens(): void {
  if (!location.hash.includes('access_token=')) return;
  const p = new URLSearchParams(location.hash.slice(1));
  const accessToken = p.get('access_token');
  if (accessToken) {
    const expires = Number(p.get('expires_at'));
    saveCredentials({
      kind: 'bearer',
      accessToken,
      refreshToken: p.get('refresh_token') ?? undefined,
      expiresAt: Number.isFinite(expires) && expires > 0 ? expires : undefined,
    });
  }
  // the tokens must not stay in the address bar or the history
  history.replaceState(null, '', location.pathname + location.search);
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [hasCreds, setHasCreds] = useState(() => {
    takeFragmentTokens();
    return loadCredentials() !== null;
  });

  // never asked without credentials: the server's 401 carries
  // WWW-Authenticate: Basic, and the browser would open its own login dialog
  const meQuery = useQuery({
    queryKey: ['me'],
    queryFn: api.me,
    enabled: hasCreds,
    retry: false,
    staleTime: 60_000,
  });

  const clear = useCallback(() => {
    saveCredentials(null);
    ws.stop();
    qc.clear();
    setHasCreds(false);
  }, [qc]);

  useEffect(() => {
    setUnauthorizedHandler(clear);
    return () => setUnauthorizedHandler(null);
  }, [clear]);

  useEffect(() => {
    if (meQuery.data) ws.start();
  }, [meQuery.data]);

  const login = useCallback(
    async (c: Credentials) => {
      saveCredentials(c);
      try {
        const me = await api.me();
        qc.setQueryData(['me'], me);
        setHasCreds(true);
        return me;
      } catch (e) {
        saveCredentials(null);
        throw e;
      }
    },
    [qc],
  );

  const logout = useCallback(async () => {
    const c = loadCredentials();
    try {
      // ends an OIDC session server-side; for basic auth it is a no-op
      await api.logout(c?.kind === 'bearer' ? c.refreshToken : undefined);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    } finally {
      clear();
    }
  }, [clear]);

  const value = useMemo<Auth>(
    () => ({
      me: hasCreds ? meQuery.data : undefined,
      loading: hasCreds && meQuery.isPending,
      login,
      logout,
    }),
    [hasCreds, meQuery.data, meQuery.isPending, login, logout],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useAuth(): Auth {
  const c = useContext(Ctx);
  if (!c) throw new Error('useAuth outside AuthProvider');
  return c;
}
