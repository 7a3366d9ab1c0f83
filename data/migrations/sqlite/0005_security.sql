-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Security records (issue 7): the audit log, API tokens, webhooks and the
-- durable queue of their deliveries. PostgreSQL: ../postgresql/0005.
-- Times are unix microseconds; NULL (0 in C) means "not yet" / "never".

-- Append-only: the store never updates or deletes a row.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    user_id        TEXT,
    username       TEXT,
    action         TEXT NOT NULL,
    resource_type  TEXT,
    resource_id    TEXT,
    success        INTEGER NOT NULL DEFAULT 1 CHECK (success IN (0, 1)),
    status         INTEGER NOT NULL DEFAULT 0,
    error_code     TEXT,
    payload_digest TEXT,
    client_ip      TEXT,
    user_agent     TEXT,
    request_id     TEXT
);
CREATE INDEX idx_audit_at ON audit_log (at DESC);
CREATE INDEX idx_audit_user ON audit_log (user_id, at DESC);
CREATE INDEX idx_audit_username ON audit_log (username, at DESC);
CREATE INDEX idx_audit_action ON audit_log (action, at DESC);
CREATE INDEX idx_audit_resource ON audit_log (resource_id, at DESC);

-- Only a hash of each secret: a stolen database holds no usable token.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT,
    token_hash   TEXT NOT NULL,
    prefix       TEXT,
    user_id      TEXT,
    username     TEXT,
    role         TEXT NOT NULL DEFAULT 'none'
                 CHECK (role IN ('none', 'viewer', 'operator', 'admin')),
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX idx_api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX idx_api_tokens_created ON api_tokens (created_at DESC);

-- job_id has no foreign key: a per-job hook may be registered before its
-- job row is written, and outlives nothing but its own deliveries.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '[]',  -- JSON array of event types; [] = all
    description TEXT,
    secret_salt TEXT,
    secret_ref  TEXT,
    job_id      TEXT,
    user_id     TEXT,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX idx_webhooks_job ON webhooks (job_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        TEXT,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claim_until     INTEGER,
    claimed_by      TEXT,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    log             TEXT NOT NULL DEFAULT '[]',  -- JSON array, one object per attempt
    replay_of       TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
-- the dispatcher's poll: due pending ones, and deliveries whose claim lapsed
CREATE INDEX idx_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX idx_deliveries_claim ON webhook_deliveries (state, claim_until);
CREATE INDEX idx_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);
