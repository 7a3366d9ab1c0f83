-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- WebEncode schema, version 1 (spec §4 and §2.5), SQLite flavour.
--
-- Portable conventions, so data/migrations/postgresql/ can mirror this file
-- line by line:
--   * ids are TEXT (PostgreSQL: UUID or VARCHAR as in spec §4);
--   * JSON documents are TEXT holding one JSON object (PostgreSQL: JSONB);
--   * timestamps are INTEGER unix microseconds, 0/NULL meaning "not yet"
--     (PostgreSQL: BIGINT, so both backends round-trip the same values);
--   * booleans are INTEGER 0/1 with a CHECK (PostgreSQL: BOOLEAN);
--   * enum columns are TEXT with a CHECK listing the strings of the C enums
--     in src/common/we-job.c (PostgreSQL: the same CHECK, or an ENUM type);
--   * job_events.id is INTEGER PRIMARY KEY AUTOINCREMENT
--     (PostgreSQL: BIGINT GENERATED ALWAYS AS IDENTITY).
--
-- The migration runner wraps this file in a transaction and records it in
-- schema_migrations; do not add BEGIN/COMMIT here.

CREATE TABLE jobs (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT,
    source_type           TEXT NOT NULL DEFAULT 'url'
                          CHECK (source_type IN ('url', 'upload', 'stream', 'restream')),
    source_url            TEXT,
    -- references streams(id) once the live work adds that table
    source_stream_id      TEXT,
    profile_id            TEXT NOT NULL,
    output_config         TEXT NOT NULL DEFAULT '{}',
    status                TEXT NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'processing', 'stitching', 'uploading',
                                            'completed', 'failed', 'cancelled')),
    progress_pct          REAL NOT NULL DEFAULT 0,
    fps                   REAL NOT NULL DEFAULT 0,
    speed                 REAL NOT NULL DEFAULT 0,
    eta_seconds           INTEGER,
    error_code            TEXT,
    error_message         TEXT,
    assigned_to_worker_id TEXT,
    -- no foreign key: the job retried may be deleted while its retry lives on
    retry_of              TEXT,
    media_info            TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    started_at            INTEGER,
    finished_at           INTEGER
);
CREATE INDEX idx_jobs_user ON jobs (user_id);
CREATE INDEX idx_jobs_status ON jobs (status);
CREATE INDEX idx_jobs_created ON jobs (created_at DESC);

CREATE TABLE tasks (
    id                 TEXT PRIMARY KEY,
    job_id             TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    sequence_index     INTEGER NOT NULL,
    kind               TEXT NOT NULL DEFAULT 'transcode',
    start_time_sec     REAL NOT NULL DEFAULT 0,
    end_time_sec       REAL NOT NULL DEFAULT 0,
    assigned_worker_id TEXT,
    attempt_count      INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL DEFAULT 3,
    output_key         TEXT,
    output_size_bytes  INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'completed', 'failed',
                                         'cancelled')),
    progress_pct       REAL NOT NULL DEFAULT 0,
    error_code         TEXT,
    error_message      TEXT,
    not_before         INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL DEFAULT 0
);
-- (job_id, sequence_index) also serves the spec's idx_tasks_job lookups
CREATE INDEX idx_tasks_job ON tasks (job_id, sequence_index);
CREATE INDEX idx_tasks_status ON tasks (status);

CREATE TABLE job_outputs (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    url          TEXT NOT NULL,
    content_type TEXT,
    size_bytes   INTEGER NOT NULL DEFAULT 0,
    profile_id   TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE job_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    message    TEXT,
    payload    TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_job_events_job ON job_events (job_id, id);

CREATE TABLE profiles (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- we_profile_to_json(); read back with we_profile_new_from_json()
    profile_json TEXT NOT NULL,
    builtin      INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE workers (
    id             TEXT PRIMARY KEY,
    hostname       TEXT,
    ip_address     TEXT,
    port           INTEGER NOT NULL DEFAULT 0,
    capabilities   TEXT,
    is_healthy     INTEGER NOT NULL DEFAULT 1 CHECK (is_healthy IN (0, 1)),
    is_draining    INTEGER NOT NULL DEFAULT 0 CHECK (is_draining IN (0, 1)),
    last_heartbeat INTEGER NOT NULL DEFAULT 0,
    version        TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX idx_workers_healthy ON workers (is_healthy);

CREATE TABLE plugin_configs (
    id          TEXT PRIMARY KEY,
    plugin_type TEXT NOT NULL,
    config_json TEXT NOT NULL DEFAULT '{}',
    is_enabled  INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    priority    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX idx_plugin_configs_type ON plugin_configs (plugin_type);

-- spec §2.5
CREATE TABLE error_events (
    id               TEXT PRIMARY KEY,
    source_component TEXT NOT NULL
                     CHECK (source_component IN ('frontend', 'kernel', 'worker')
                            OR source_component LIKE 'plugin:%'),
    severity         TEXT NOT NULL
                     CHECK (severity IN ('warning', 'error', 'critical', 'fatal')),
    message          TEXT NOT NULL,
    stack_trace      TEXT,
    context_data     TEXT NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL,
    resolved         INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1))
);
CREATE INDEX idx_error_events_created ON error_events (created_at DESC);
CREATE INDEX idx_error_events_unresolved ON error_events (resolved, created_at);
