-- Job priority (0-100, higher first), honoured by dispatch and changeable
-- while a job waits. Mirrors ../sqlite/0002_job_priority.sql.
ALTER TABLE jobs ADD COLUMN priority INT NOT NULL DEFAULT 50
    CHECK (priority BETWEEN 0 AND 100);
CREATE INDEX idx_jobs_priority ON jobs (priority DESC, created_at);
