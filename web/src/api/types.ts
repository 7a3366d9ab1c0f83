// Shapes of the REST API (docs/api.md) the dashboard reads.

export type Role = 'viewer' | 'operator' | 'admin';

export type JobStatus =
  | 'queued'
  | 'processing'
  | 'stitching'
  | 'uploading'
  | 'completed'
  | 'failed'
  | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'processing',
  'stitching',
  'uploading',
  'completed',
  'failed',
  'cancelled',
];

export const FINISHED: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface Me {
  user_id: string;
  username: string;
  role: Role;
  email?: string;
  display_name?: string;
  expires_at?: number;
}

export interface AuthMethod {
  plugin: string;
  method: string;
  login: boolean;
}

export interface AuthConfig {
  methods: AuthMethod[];
  login: boolean;
  login_url?: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  source_type?: string;
  source_url: string;
  profile: string;
  progress_pct: number;
  progress?: number;
  fps?: number;
  speed?: number;
  eta_seconds?: number | null;
  tasks_total?: number;
  tasks_completed?: number;
  error_code?: string | null;
  error_message?: string | null;
  assigned_to_worker_id?: string | null;
  retry_of?: string | null;
  priority?: number;
  created_at: string;
  updated_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface JobList {
  jobs: Job[];
  total: number;
  limit: number;
  offset: number;
}

export interface Task {
  id: string;
  job_id: string;
  sequence_index: number;
  kind: string;
  start_time_sec?: number | null;
  end_time_sec?: number | null;
  assigned_worker_id?: string | null;
  attempt_count: number;
  max_attempts: number;
  status: string;
  progress_pct: number;
  output_key?: string | null;
  output_size_bytes?: number | null;
  error_code?: string | null;
  error_message?: string | null;
  updated_at?: string;
}

export interface Output {
  name: string;
  type: 'final' | 'manifest' | 'rendition' | 'thumbnail' | 'subtitle' | string;
  url: string;
  download_url: string;
  size_bytes: number;
  content_type: string;
  profile?: string;
}

export interface Outputs {
  job_id: string;
  status: JobStatus;
  outputs: Output[];
}

export interface Pipeline {
  stage: string;
  launch: string;
  command: string;
  has_graph: boolean;
  recorded_at: string;
}

export interface PipelineReport {
  job_id: string;
  task_id: string;
  attempt: number;
  pipelines: Pipeline[];
}

/** The `dashboard` WebSocket topic's event (ws-protocol). */
export interface DashboardSnapshot {
  jobs_24h: {
    total: number;
    completed: number;
    failed: number;
    cancelled: number;
    queued: number;
    processing: number;
    /** mean finished_at - started_at of the completed ones; null when none */
    avg_processing_s?: number | null;
    /** completed of completed + failed; null when none finished */
    succeeded_pct?: number | null;
  };
  active_jobs: number;
  workers: { total: number; online: number; busy: number; draining: number; offline: number };
  recent_jobs: Job[];
  time: string;
  /** the kernel's host (docs/api.md "WebSocket"); absent when /proc is unreadable */
  system?: {
    cpu_pct?: number;
    mem_pct?: number;
    mem_used_bytes?: number;
    mem_total_bytes?: number;
    disk_pct?: number;
    load1?: number;
    cores?: number;
  };
  health?: {
    database?: { ok?: boolean; latency_ms?: number; backend?: string };
    queue?: { ok?: boolean; kind?: string };
    plugins?: { healthy?: number; degraded?: number; failed?: number; disabled?: number };
  };
}

/** The §11 error envelope. */
export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    details?: string;
    request_id?: string;
    timestamp?: string;
    docs_url?: string;
  };
}
