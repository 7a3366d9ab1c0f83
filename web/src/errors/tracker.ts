// The global error tracker: uncaught errors, unhandled rejections and what
// the React error boundary catches go to POST /v1/errors (spec §12), so an
// operator sees the dashboard's failures next to the service's own.

import { loadCredentials, request } from '../api/client';

export type Severity = 'error' | 'warning' | 'critical';

const MAX_PER_MINUTE = 10;
let sentThisMinute = 0;
let minuteStart = 0;
const seen = new Set<string>();

/** Strips what must not leave the browser: the URL fragment may carry
 * OIDC tokens, and query strings may carry tickets. */
function safeUrl(): string {
  return location.origin + location.pathname;
}

export function reportError(err: unknown, severity: Severity = 'error', extra: Record<string, unknown> = {}): void {
  // the endpoint wants a user; without one the server's 401 would open the
  // browser's own Basic login dialog
  if (!loadCredentials()) return;
  const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
  const message = e.message.slice(0, 2000);
  // one report per distinct message and page: a render loop must not flood
  const key = `${message}@${location.pathname}`;
  if (seen.has(key)) return;
  const now = Date.now();
  if (now - minuteStart > 60_000) {
    minuteStart = now;
    sentThisMinute = 0;
  }
  if (sentThisMinute >= MAX_PER_MINUTE) return;
  seen.add(key);
  sentThisMinute++;
  const body = {
    source_component: 'frontend',
    severity,
    message,
    stack_trace: (e.stack ?? '').slice(0, 16_000),
    context_data: { url: safeUrl(), user_agent: navigator.userAgent, ...extra },
  };
  // never throws: a failing tracker must not cause the errors it reports
  request('/v1/errors', { method: 'POST', body, keepSession: true }).catch(() => undefined);
}

export function installErrorTracker(): void {
  window.addEventListener('error', (ev) => {
    reportError(ev.error ?? ev.message, 'error', { source: 'window.onerror' });
  });
  window.addEventListener('unhandledrejection', (ev) => {
    reportError(ev.reason, 'error', { source: 'unhandledrejection' });
  });
}
