// The operations pages' REST calls and shapes (docs/api.md: Workers, Audit
// log, Error tracking; plugins: GET/PUT/POST /v1/plugins…), and the `dashboard`
// topic's optional system and health fields.

import { download, request } from './client';
import type { DashboardSnapshot } from './types';

export interface HwEncoder {
  element: string;
  codec?: string;
  gpu_type?: string | null;
}

export interface WorkerCapabilities {
  video_codecs?: string[];
  audio_codecs?: string[];
  hw_encoders?: HwEncoder[];
  gpu_accelerated?: boolean;
  gpu_type?: string | null;
  cores?: number;
  memory_bytes?: number;
  hostname?: string;
  ip_address?: string | null;
  max_parallel_tasks?: number;
}

export interface WorkerResources {
  cpu_pct?: number;
  mem_pct?: number;
}

export type WorkerStatus = 'online' | 'draining' | 'offline';

export interface Worker {
  id: string;
  status: WorkerStatus | string;
  state?: string;
  draining?: boolean;
  hostname?: string | null;
  ip_address?: string | null;
  version?: string | null;
  pid?: number | null;
  task_ids?: string[];
  slots_total?: number;
  slots_free?: number;
  capabilities?: WorkerCapabilities | null;
  last_heartbeat?: string | null;
  started_at?: string | null;
  restarts?: number | null;
  registered_at?: string | null;
  resources?: WorkerResources | null;
}

/** The status a person reads: a worker running a task is busy. */
export function workerDisplayStatus(w: Worker): 'online' | 'busy' | 'draining' | 'offline' {
  if (w.status === 'offline') return 'offline';
  if (w.status === 'draining' || w.draining) return 'draining';
  if (w.state === 'busy' || (w.task_ids?.length ?? 0) > 0) return 'busy';
  return 'online';
}

/** The fields another helper adds to the `dashboard` event; all optional. */
export interface SystemStats {
  cpu_pct?: number;
  mem_pct?: number;
  mem_used_bytes?: number;
  mem_total_bytes?: number;
  disk_pct?: number;
  load1?: number;
  cores?: number;
}

export interface HealthStats {
  database?: { ok?: boolean; latency_ms?: number; backend?: string };
  queue?: { ok?: boolean; kind?: string };
  plugins?: { healthy?: number; degraded?: number; failed?: number; disabled?: number };
}

export type OpsSnapshot = Omit<DashboardSnapshot, 'jobs_24h'> & {
  jobs_24h: DashboardSnapshot['jobs_24h'] & { avg_processing_s?: number | null; succeeded_pct?: number | null };
  system?: SystemStats;
  health?: HealthStats;
};

export type PluginType = 'auth' | 'storage' | 'encoder' | 'live' | 'publisher';
export const PLUGIN_TYPES: readonly PluginType[] = ['auth', 'storage', 'encoder', 'live', 'publisher'];

export interface Plugin {
  id: string;
  /** null for a manifest too broken to say */
  type: PluginType | string | null;
  version?: string;
  protocol_version?: string | number;
  state: string;
  enabled: boolean;
  error?: string | null;
  priority?: number;
  loaded_at?: string | null;
  uptime_s?: number | null;
  config_keys?: string[];
  config?: Record<string, unknown> | null;
  config_source?: string;
  capabilities?: unknown;
  restart_required?: boolean;
}

export interface PluginTest {
  ok: boolean;
  latency_ms?: number;
  detail?: string | null;
  /** the §11 code and message of what failed */
  error?: { code: string; message: string } | string | null;
}

/** A failed test's reason, as one line. */
export function testError(r: PluginTest): string {
  if (!r.error) return r.detail ?? '';
  return typeof r.error === 'string' ? r.error : `${r.error.code}: ${r.error.message}`;
}

export interface AuditEntry {
  id: number;
  timestamp: string;
  user_id?: string | null;
  username?: string | null;
  action: string;
  resource_type?: string | null;
  resource_id?: string | null;
  result: 'success' | 'failure';
  status: number;
  error_code?: string | null;
  payload_digest?: string | null;
  client_ip?: string | null;
  user_agent?: string | null;
  request_id?: string | null;
}

export interface AuditFilter {
  user?: string;
  action?: string;
  resource_type?: string;
  since?: string;
  until?: string;
}

export interface ErrorEvent {
  id: string;
  source_component: string;
  severity: string;
  message: string;
  stack_trace?: string | null;
  context_data?: Record<string, unknown> | null;
  created_at: string;
  resolved: boolean;
  resolved_at?: string | null;
  resolved_by?: string | null;
}

export interface ErrorFilter {
  resolved?: '' | 'true' | 'false';
  severity?: string;
  source?: string;
}

const enc = encodeURIComponent;

function auditQuery(f: AuditFilter): Record<string, string | undefined> {
  return {
    user: f.user?.trim() || undefined,
    action: f.action?.trim() || undefined,
    resource_type: f.resource_type?.trim() || undefined,
    since: f.since || undefined,
    until: f.until || undefined,
  };
}

export const ops = {
  workers: () => request<{ workers: Worker[]; total: number }>('/v1/workers'),
  worker: (id: string) => request<Worker>(`/v1/workers/${enc(id)}`),
  drain: (id: string) => request<Worker>(`/v1/workers/${enc(id)}/drain`, { method: 'POST' }),
  undrain: (id: string) => request<Worker>(`/v1/workers/${enc(id)}/undrain`, { method: 'POST' }),
  removeWorker: (id: string, force: boolean) =>
    request<void>(`/v1/workers/${enc(id)}`, { method: 'DELETE', query: { force: force ? 'true' : undefined } }),

  plugins: () => request<{ plugins: Plugin[] }>('/v1/plugins'),
  plugin: (id: string) => request<Plugin>(`/v1/plugins/${enc(id)}`),
  savePluginConfig: (id: string, config: Record<string, unknown>) =>
    request<Plugin>(`/v1/plugins/${enc(id)}/config`, { method: 'PUT', body: { config } }),
  enablePlugin: (id: string, on: boolean) =>
    request<Plugin>(`/v1/plugins/${enc(id)}/${on ? 'enable' : 'disable'}`, { method: 'POST' }),
  testPlugin: (id: string, config?: Record<string, unknown>) =>
    request<PluginTest>(`/v1/plugins/${enc(id)}/test`, { method: 'POST', body: config ? { config } : {} }),

  audit: (f: AuditFilter, limit: number, offset: number) =>
    request<{ entries: AuditEntry[]; total: number; limit: number; offset: number }>('/v1/audit', {
      query: { ...auditQuery(f), limit, offset },
    }),
  /** The same filter as CSV (the API's ?format=csv), saved as a file. */
  auditCsv: (f: AuditFilter) => {
    const q = new URLSearchParams({ format: 'csv', limit: '10000' });
    for (const [k, v] of Object.entries(auditQuery(f))) if (v) q.set(k, v);
    return download(`/v1/audit?${q.toString()}`, 'audit.csv');
  },

  errors: (f: ErrorFilter, limit: number, offset: number) =>
    request<{ errors: ErrorEvent[]; total: number; limit: number; offset: number }>('/v1/errors', {
      query: { resolved: f.resolved || undefined, severity: f.severity || undefined, source: f.source || undefined, limit, offset },
    }),
  resolveError: (id: string, resolved: boolean) =>
    request<{ id: string; resolved: boolean }>(`/v1/errors/${enc(id)}`, { method: 'PATCH', body: { resolved } }),
};
