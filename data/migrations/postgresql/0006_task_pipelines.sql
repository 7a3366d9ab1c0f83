-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Pipeline introspection (issue 8): the GStreamer pipelines each task ran, as
-- its worker reported them, and where the worker left the task's GStreamer
-- debug log. Mirrors ../sqlite/0006. Times are unix microseconds.
-- Both hang off their task, so deleting a job (or a task) deletes them.

-- One row per (task, stage) of the task's latest attempt: a retry replaces
-- the stages it reports again. id keeps the order the stages were recorded.
CREATE TABLE task_pipelines (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    task_id     TEXT COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt     INT NOT NULL DEFAULT 1,
    stage       TEXT COLLATE "C" NOT NULL,
    launch      TEXT NOT NULL,
    dot         TEXT,
    recorded_at BIGINT NOT NULL,
    UNIQUE (task_id, stage)
);
CREATE INDEX idx_task_pipelines_job ON task_pipelines (job_id);

-- At most one log per task: the latest attempt's. url is a storage URL.
CREATE TABLE task_logs (
    task_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    job_id      TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INT NOT NULL DEFAULT 1,
    url         TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL DEFAULT 0,
    truncated   BOOLEAN NOT NULL DEFAULT FALSE,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX idx_task_logs_job ON task_logs (job_id);
