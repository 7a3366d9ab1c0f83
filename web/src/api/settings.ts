// The settings pages' REST calls and shapes (docs/api.md: Webhooks, API
// tokens, GET /v1/users). Admin-only routes: the pages ask useCan() first,
// so a lower role never sends them (a 403 would log a console error).

import { request } from './client';

/** The events a webhook may subscribe to (src/core/we-webhooks.c
 * event_types, docs/api.md "Webhooks"). The API has no route that lists
 * them; `ping` is left out: it goes only where it was asked for. */
export const WEBHOOK_EVENTS = ['job.created', 'job.started', 'job.completed', 'job.failed', 'stream.started', 'stream.ended', 'recording.ready'] as const;

/** The header a receiver checks (spec §20.4): `sha256=<hex HMAC-SHA256 of
 * the raw body, keyed with the secret's ASCII bytes>`. */
export const SIGNATURE_HEADER = 'X-WebEncode-Signature';

export interface Webhook {
  id: string;
  url: string;
  /** [] means every event */
  events: string[];
  description: string | null;
  enabled: boolean;
  job_id: string | null;
  user_id: string | null;
  secret_set: boolean;
  secret_source: 'derived' | 'secret_ref' | 'user' | string;
  secret_ref: string | null;
  created_at: string | null;
  updated_at: string | null;
  /** only in the answers of create and rotate-secret */
  secret?: string;
}

export interface WebhookInput {
  url: string;
  events: string[];
  description?: string;
  enabled: boolean;
}

export interface DeliveryAttempt {
  attempt: number;
  at: string | null;
  status: number;
  error: string | null;
  duration_ms?: number;
  kernel?: string;
}

export type DeliveryState = 'pending' | 'delivering' | 'succeeded' | 'failed';

export interface Delivery {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  state: DeliveryState | string;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  replay_of: string | null;
  created_at: string | null;
  updated_at: string | null;
  delivered_at: string | null;
  log?: DeliveryAttempt[];
}

export interface ApiToken {
  id: string;
  name: string;
  /** `we_` and the first 8 characters, then "…": never the token */
  prefix: string;
  user_id: string;
  username: string;
  role: 'viewer' | 'operator' | 'admin' | string;
  created_by?: string;
  created_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  active: boolean;
  /** only in the answer of create */
  token?: string;
}

export interface TokenInput {
  name: string;
  role: string;
  /** 0 or absent: never expires */
  expires_in_s?: number;
}

export interface User {
  user_id: string;
  username: string;
  email?: string;
  display_name?: string;
  role: string;
}

const hook = (id: string) => `/v1/webhooks/${encodeURIComponent(id)}`;

export const settings = {
  webhooks: () => request<{ webhooks: Webhook[]; total: number }>('/v1/webhooks'),
  webhook: (id: string) => request<Webhook>(hook(id)),
  createWebhook: (w: WebhookInput) => request<Webhook>('/v1/webhooks', { method: 'POST', body: w }),
  updateWebhook: (id: string, w: Partial<WebhookInput>) => request<Webhook>(hook(id), { method: 'PATCH', body: w }),
  deleteWebhook: (id: string) => request<void>(hook(id), { method: 'DELETE' }),
  rotateSecret: (id: string) => request<Webhook>(`${hook(id)}/rotate-secret`, { method: 'POST' }),
  ping: (id: string) => request<Delivery>(`${hook(id)}/ping`, { method: 'POST' }),
  deliveries: (id: string, limit: number, offset: number) =>
    request<{ deliveries: Delivery[]; total: number; limit: number; offset: number }>(`${hook(id)}/deliveries`, { query: { limit, offset } }),
  replay: (id: string, delivery: string) =>
    request<Delivery>(`${hook(id)}/deliveries/${encodeURIComponent(delivery)}/replay`, { method: 'POST' }),

  tokens: () => request<ApiToken[]>('/v1/tokens'),
  createToken: (t: TokenInput) => request<ApiToken>('/v1/tokens', { method: 'POST', body: t }),
  revokeToken: (id: string) => request<void>(`/v1/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' }),

  users: () => request<{ users: User[]; total_count: number }>('/v1/users'),
};
