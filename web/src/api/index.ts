// The REST calls the dashboard makes (docs/api.md), typed.

import { request } from './client';
import type { AuthConfig, Job, JobList, JobStatus, Me, Outputs, PipelineReport, Task } from './types';

export * from './client';
export * from './types';

export interface JobQuery {
  status?: JobStatus | '';
  search?: string;
  limit: number;
  offset: number;
}

export const api = {
  authConfig: () => request<AuthConfig>('/v1/auth/config', { anonymous: true }),
  me: () => request<Me>('/v1/auth/me'),
  logout: (refreshToken?: string) =>
    request<void>('/v1/auth/logout', { method: 'POST', body: refreshToken ? { refresh_token: refreshToken } : {} }),
  wsTicket: () => request<{ ticket: string; expires_in: number }>('/v1/ws/ticket', { method: 'POST' }),
  jobs: (q: JobQuery) =>
    request<JobList>('/v1/jobs', {
      query: { status: q.status || undefined, search: q.search, limit: q.limit, offset: q.offset, order: 'newest' },
    }),
  job: (id: string) => request<Job>(`/v1/jobs/${encodeURIComponent(id)}`),
  tasks: (id: string) => request<{ tasks: Task[] }>(`/v1/jobs/${encodeURIComponent(id)}/tasks`),
  outputs: (id: string) => request<Outputs>(`/v1/jobs/${encodeURIComponent(id)}/outputs`),
  pipeline: (id: string, task: string) =>
    request<PipelineReport>(`/v1/jobs/${encodeURIComponent(id)}/tasks/${encodeURIComponent(task)}/pipeline`),
  cancel: (id: string) => request<Job>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
  retry: (id: string) => request<Job>(`/v1/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
  reportError: (body: unknown) => request<unknown>('/v1/errors', { method: 'POST', body }),
};
