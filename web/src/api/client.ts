// The typed REST client: one fetch wrapper that sends the session's
// credentials and turns the §11 error envelope into an ApiError.

import type { ErrorEnvelope } from './types';

/** An API failure: `code` is the WE-… code of the §11 envelope, or a local
 * one (`WE-NET-000` when the server could not be reached at all). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: string | undefined;
  readonly requestId: string | undefined;

  constructor(status: number, code: string, message: string, details?: string, requestId?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  get isAuth(): boolean {
    return this.status === 401;
  }
  get isForbidden(): boolean {
    return this.status === 403;
  }
}

export type Credentials =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; accessToken: string; refreshToken?: string; expiresAt?: number };

// sessionStorage, not localStorage: the credentials end with the tab, and
// another site's tabs never see them.
const KEY = 'we.credentials';

export function loadCredentials(): Credentials | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Credentials) : null;
  } catch {
    return null;
  }
}

export function saveCredentials(c: Credentials | null): void {
  if (c) sessionStorage.setItem(KEY, JSON.stringify(c));
  else sessionStorage.removeItem(KEY);
}

function authorization(c: Credentials | null): string | null {
  if (!c) return null;
  if (c.kind === 'basic') {
    // btoa wants Latin-1: encode UTF-8 user names and passwords first
    const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
    let bin = '';
    bytes.forEach((b) => (bin += String.fromCharCode(b)));
    return `Basic ${btoa(bin)}`;
  }
  return `Bearer ${c.accessToken}`;
}

/** Called when the server refused our credentials (401): the app logs out. */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** no Authorization header (the public /v1/auth/config and refresh) */
  anonymous?: boolean;
  /** a 401 is this call's own business, not a reason to end the session */
  keepSession?: boolean;
  signal?: AbortSignal;
  /** extra request headers (e.g. Idempotency-Key) */
  headers?: Record<string, string>;
}

/** The §11 envelope of a failed response's body as an ApiError (a generic
 * one when the body is not an envelope). */
export function envelopeError(status: number, text: string, statusText: string): ApiError {
  try {
    const env = JSON.parse(text) as Partial<ErrorEnvelope>;
    if (env.error && typeof env.error.code === 'string') {
      const e = env.error;
      return new ApiError(status, e.code, e.message, e.details, e.request_id);
    }
  } catch {
    // not JSON: fall through to a generic error
  }
  return new ApiError(status, `HTTP-${status}`, statusText || `HTTP ${status}`);
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  return envelopeError(res.status, text, res.statusText);
}

/** The session's credentials as request headers, for the few calls that
 * cannot go through request() (XMLHttpRequest uploads with progress). */
export function authHeaders(): Record<string, string> {
  const h: Record<string, string> = { 'X-Requested-With': 'XMLHttpRequest' };
  const auth = authorization(loadCredentials());
  if (auth) h.Authorization = auth;
  return h;
}

let refreshing: Promise<boolean> | null = null;

// An expired OIDC access token (WE-AUTH-002) is renewed once with the
// refresh token; concurrent requests share the one refresh.
async function refresh(): Promise<boolean> {
  const c = loadCredentials();
  if (!c || c.kind !== 'bearer' || !c.refreshToken) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: c.refreshToken }),
      });
      if (!r.ok) return false;
      const t = (await r.json()) as { access_token: string; refresh_token?: string; expires_at?: number };
      saveCredentials({
        kind: 'bearer',
        accessToken: t.access_token,
        refreshToken: t.refresh_token ?? c.refreshToken,
        expiresAt: t.expires_at,
      });
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function request<T>(path: string, opts: RequestOptions = {}, retried = false): Promise<T> {
  // X-Requested-With: a script's request, which should get its 401 without
  // a WWW-Authenticate challenge (that would open the browser's own dialog)
  const headers: Record<string, string> = {
    ...opts.headers,
    Accept: 'application/json',
    'X-Requested-With': 'XMLHttpRequest',
  };
  const auth = opts.anonymous ? null : authorization(loadCredentials());
  if (auth) headers.Authorization = auth;
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let url = path;
  if (opts.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query)) if (v !== undefined && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += `?${s}`;
  }
  let res: Response;
  try {
    res = await fetch(url, { method: opts.method ?? 'GET', headers, body, signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'WE-NET-000', e instanceof Error ? e.message : String(e));
  }
  if (res.ok) {
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
  const err = await toError(res);
  if (err.code === 'WE-AUTH-002' && !retried && (await refresh())) return request<T>(path, opts, true);
  // only refused credentials end the session: a 401 without any means
  // "log in", and must not loop through the logout
  if (err.status === 401 && auth && !opts.keepSession) onUnauthorized?.();
  throw err;
}

/** Fetches a protected output with the credentials and saves it: a plain
 * link cannot carry the Authorization header. */
export async function download(url: string, name: string): Promise<void> {
  const headers: Record<string, string> = { 'X-Requested-With': 'XMLHttpRequest' };
  const auth = authorization(loadCredentials());
  if (auth) headers.Authorization = auth;
  const res = await fetch(url, { headers });
  if (!res.ok) throw await toError(res);
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name.split('/').pop() ?? name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
