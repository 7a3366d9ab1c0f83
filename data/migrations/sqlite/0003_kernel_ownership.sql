-- Which kernel (webencoded) drives each active job, and which kernels are
-- alive: a job whose owner stopped beating is adopted by another kernel, and
-- no two kernels ever drive the same job. PostgreSQL: ../postgresql/0003.
ALTER TABLE jobs ADD COLUMN owner_kernel TEXT;
CREATE INDEX idx_jobs_owner ON jobs(owner_kernel);

CREATE TABLE kernels (
    id         TEXT PRIMARY KEY,
    hostname   TEXT,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
