-- The client's Idempotency-Key of POST /v1/jobs: a retried submit (after a
-- timeout, or a kernel restart mid-request) finds its job instead of making
-- a second one. Mirrors ../sqlite/0004.
ALTER TABLE jobs ADD COLUMN idempotency_key VARCHAR(255);
CREATE UNIQUE INDEX idx_jobs_idempotency ON jobs (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
