// The job detail page's REST calls beyond the core client (docs/api.md):
// the timeline, per-task retry, deletion, and the authenticated fetches of
// protected files (outputs, logs, pipeline graphs) that a media element, an
// <img> or a plain link cannot make with the session's Authorization header.

import { loadCredentials, request, ApiError } from './client';
import type { Job, Task } from './types';

export interface JobEvent {
  id: number;
  job_id: string;
  type: string;
  message?: string | null;
  payload?: Record<string, unknown>;
  created_at: string;
}

/** POST /v1/jobs/{id}/tasks/{task}/retry answers 202 with both. */
export interface TaskRetryResult {
  job: Job;
  task: Task;
}

const enc = encodeURIComponent;

export function jobPath(id: string): string {
  return `/v1/jobs/${enc(id)}`;
}

/** Same-origin path of an output: download_url is built from the service's
 * public_url, which need not be the address this browser reached it at. */
export function outputPath(jobId: string, name: string): string {
  return `${jobPath(jobId)}/outputs/${name.split('/').map(enc).join('/')}`;
}

export function taskPath(jobId: string, taskId: string): string {
  return `${jobPath(jobId)}/tasks/${enc(taskId)}`;
}

export const detailApi = {
  events: (id: string) => request<{ events: JobEvent[] }>(`${jobPath(id)}/events`),
  retryTask: (id: string, task: string, requeue: boolean) =>
    request<TaskRetryResult>(`${taskPath(id, task)}/retry`, {
      method: 'POST',
      query: requeue ? { requeue: 'true' } : undefined,
    }),
  remove: (id: string) => request<void>(jobPath(id), { method: 'DELETE' }),
};

/** The session's credentials as request headers, for players and fetches
 * that bypass request(). Only ever sent to this origin. */
export function authHeaders(): Record<string, string> {
  const h: Record<string, string> = { 'X-Requested-With': 'XMLHttpRequest' };
  const c = loadCredentials();
  if (c?.kind === 'basic') {
    // btoa wants Latin-1: encode UTF-8 names and passwords first
    const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
    let bin = '';
    bytes.forEach((b) => (bin += String.fromCharCode(b)));
    h.Authorization = `Basic ${btoa(bin)}`;
  } else if (c?.kind === 'bearer') {
    h.Authorization = `Bearer ${c.accessToken}`;
  }
  return h;
}

/** True for URLs of this origin: only those get the credentials. */
export function sameOrigin(url: string): boolean {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

async function authFetch(url: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { headers: authHeaders(), signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'WE-NET-000', e instanceof Error ? e.message : String(e));
  }
  if (res.ok) return res;
  let err: ApiError | null = null;
  try {
    const env = (await res.json()) as { error?: { code: string; message: string; details?: string; request_id?: string } };
    if (env.error) err = new ApiError(res.status, env.error.code, env.error.message, env.error.details, env.error.request_id);
  } catch {
    // not the envelope
  }
  throw err ?? new ApiError(res.status, `HTTP-${res.status}`, res.statusText || `HTTP ${res.status}`);
}

export async function fetchText(url: string, signal?: AbortSignal): Promise<string> {
  return (await authFetch(url, signal)).text();
}

export async function fetchBlob(url: string, signal?: AbortSignal): Promise<Blob> {
  return (await authFetch(url, signal)).blob();
}

/** Saves `blob` under `name` the way a download link would. */
export function saveBlob(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name.split('/').pop() ?? name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
