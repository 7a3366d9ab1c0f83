-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- WebEncode schema, version 1 (spec §4 and §2.5), PostgreSQL flavour.
-- Mirrors ../sqlite/0001_initial.sql table by table and column by column, so
-- both backends pass the same src/store/we-store-test-suite.c:
--   * ids are TEXT, not UUID: the API looks rows up by whatever string a
--     client sent, and "nope" must be not-found rather than a type error;
--     COLLATE "C" makes ORDER BY id byte order, as in SQLite, whatever the
--     database's locale;
--   * JSON documents are JSONB holding one JSON object;
--   * timestamps are BIGINT unix microseconds, 0/NULL meaning "not yet"
--     (the same values SQLite stores, so both round-trip exactly);
--   * booleans are BOOLEAN;
--   * job status and source type are ENUM types (spec §4); the other enum
--     columns keep SQLite's CHECKs, which list the strings of the C enums in
--     src/common/we-job.c;
--   * job_events.id is BIGINT GENERATED ALWAYS AS IDENTITY.
--
-- The migration runner wraps this file in a transaction and records it in
-- schema_migrations; do not add BEGIN/COMMIT here.

CREATE TYPE job_status AS ENUM ('queued', 'processing', 'stitching', 'uploading',
                                'completed', 'failed', 'cancelled');
CREATE TYPE job_source_type AS ENUM ('url', 'upload', 'stream', 'restream');

CREATE TABLE jobs (
    id                    TEXT COLLATE "C" PRIMARY KEY,
    user_id               TEXT,
    source_type           job_source_type NOT NULL DEFAULT 'url',
    source_url            TEXT,
    -- references streams(id) once the live work adds that table
    source_stream_id      TEXT,
    profile_id            TEXT NOT NULL,
    output_config         JSONB NOT NULL DEFAULT '{}',
    status                job_status NOT NULL DEFAULT 'queued',
    progress_pct          DOUBLE PRECISION NOT NULL DEFAULT 0,
    fps                   DOUBLE PRECISION NOT NULL DEFAULT 0,
    speed                 DOUBLE PRECISION NOT NULL DEFAULT 0,
    eta_seconds           INT,
    error_code            TEXT,
    error_message         TEXT,
    assigned_to_worker_id TEXT,
    -- no foreign key: the job retried may be deleted while its retry lives on
    retry_of              TEXT,
    media_info            JSONB,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    started_at            BIGINT,
    finished_at           BIGINT
);
CREATE INDEX idx_jobs_user ON jobs (user_id);
CREATE INDEX idx_jobs_status ON jobs (status);
CREATE INDEX idx_jobs_created ON jobs (created_at DESC);

CREATE TABLE tasks (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    job_id             TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    sequence_index     INT NOT NULL,
    kind               TEXT NOT NULL DEFAULT 'transcode',
    start_time_sec     DOUBLE PRECISION NOT NULL DEFAULT 0,
    end_time_sec       DOUBLE PRECISION NOT NULL DEFAULT 0,
    assigned_worker_id TEXT,
    attempt_count      INT NOT NULL DEFAULT 0,
    max_attempts       INT NOT NULL DEFAULT 3,
    output_key         TEXT,
    output_size_bytes  BIGINT NOT NULL DEFAULT 0,
    status             TEXT NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'completed', 'failed',
                                         'cancelled')),
    progress_pct       DOUBLE PRECISION NOT NULL DEFAULT 0,
    error_code         TEXT,
    error_message      TEXT,
    not_before         BIGINT NOT NULL DEFAULT 0,
    updated_at         BIGINT NOT NULL DEFAULT 0
);
-- (job_id, sequence_index) also serves the spec's idx_tasks_job lookups
CREATE INDEX idx_tasks_job ON tasks (job_id, sequence_index);
CREATE INDEX idx_tasks_status ON tasks (status);

CREATE TABLE job_outputs (
    job_id       TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    type         TEXT NOT NULL,
    url          TEXT NOT NULL,
    content_type TEXT,
    size_bytes   BIGINT NOT NULL DEFAULT 0,
    profile_id   TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE job_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    message    TEXT,
    payload    JSONB,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_job_events_job ON job_events (job_id, id);

CREATE TABLE profiles (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    -- we_profile_to_json(); read back with we_profile_new_from_json()
    profile_json JSONB NOT NULL,
    builtin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- ip_address stays TEXT rather than the spec's INET: workers report what
-- they see (a hostname-ish string included), and SQLite stores it verbatim
CREATE TABLE workers (
    id             TEXT COLLATE "C" PRIMARY KEY,
    hostname       TEXT,
    ip_address     TEXT,
    port           INT NOT NULL DEFAULT 0,
    capabilities   JSONB,
    is_healthy     BOOLEAN NOT NULL DEFAULT TRUE,
    is_draining    BOOLEAN NOT NULL DEFAULT FALSE,
    last_heartbeat BIGINT NOT NULL DEFAULT 0,
    version        TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX idx_workers_healthy ON workers (is_healthy);

CREATE TABLE plugin_configs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    plugin_type TEXT COLLATE "C" NOT NULL,
    config_json JSONB NOT NULL DEFAULT '{}',
    is_enabled  BOOLEAN NOT NULL DEFAULT TRUE,
    priority    INT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX idx_plugin_configs_type ON plugin_configs (plugin_type);

-- spec §2.5
CREATE TABLE error_events (
    id               TEXT COLLATE "C" PRIMARY KEY,
    source_component TEXT NOT NULL
                     CHECK (source_component IN ('frontend', 'kernel', 'worker')
                            OR source_component LIKE 'plugin:%'),
    severity         TEXT NOT NULL
                     CHECK (severity IN ('warning', 'error', 'critical', 'fatal')),
    message          TEXT NOT NULL,
    stack_trace      TEXT,
    context_data     JSONB NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    resolved         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX idx_error_events_created ON error_events (created_at DESC);
CREATE INDEX idx_error_events_unresolved ON error_events (resolved, created_at);
