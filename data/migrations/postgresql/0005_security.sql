-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Security records (issue 7): the audit log, API tokens, webhooks and the
-- durable queue of their deliveries. Mirrors ../sqlite/0005.
-- Times are unix microseconds; NULL (0 in C) means "not yet" / "never".

-- Append-only: the store never updates or deletes a row. action is "C" so
-- a prefix filter ("job.") is a byte range the index answers.
CREATE TABLE audit_log (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    user_id        TEXT COLLATE "C",
    username       TEXT COLLATE "C",
    action         TEXT COLLATE "C" NOT NULL,
    resource_type  TEXT COLLATE "C",
    resource_id    TEXT COLLATE "C",
    success        BOOLEAN NOT NULL DEFAULT TRUE,
    status         INT NOT NULL DEFAULT 0,
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
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT,
    token_hash   TEXT COLLATE "C" NOT NULL,
    prefix       TEXT,
    user_id      TEXT COLLATE "C",
    username     TEXT,
    role         TEXT NOT NULL DEFAULT 'none'
                 CHECK (role IN ('none', 'viewer', 'operator', 'admin')),
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX idx_api_tokens_hash ON api_tokens (token_hash);
CREATE INDEX idx_api_tokens_created ON api_tokens (created_at DESC);

-- job_id has no foreign key: a per-job hook may be registered before its
-- job row is written, and outlives nothing but its own deliveries.
CREATE TABLE webhooks (
    id          TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT NOT NULL,
    events      JSONB NOT NULL DEFAULT '[]',  -- array of event types; [] = all
    description TEXT,
    secret_salt TEXT,
    secret_ref  TEXT,
    job_id      TEXT COLLATE "C",
    user_id     TEXT COLLATE "C",
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX idx_webhooks_job ON webhooks (job_id);

-- payload stays TEXT, not JSONB: it is the exact body that was signed
CREATE TABLE webhook_deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        TEXT COLLATE "C",
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim_until     BIGINT,
    claimed_by      TEXT,
    last_status     INT NOT NULL DEFAULT 0,
    last_error      TEXT,
    log             JSONB NOT NULL DEFAULT '[]',  -- one object per attempt
    replay_of       TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
-- the dispatcher's poll: due pending ones, and deliveries whose claim lapsed
CREATE INDEX idx_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX idx_deliveries_claim ON webhook_deliveries (state, claim_until);
CREATE INDEX idx_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);
