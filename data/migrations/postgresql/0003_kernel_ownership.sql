-- Which kernel (webencoded) drives each active job, and which kernels are
-- alive: a job whose owner stopped beating is adopted by another kernel, and
-- no two kernels ever drive the same job. Mirrors ../sqlite/0003.
ALTER TABLE jobs ADD COLUMN owner_kernel VARCHAR(255);
CREATE INDEX idx_jobs_owner ON jobs (owner_kernel);

CREATE TABLE kernels (
    id         VARCHAR(255) PRIMARY KEY,
    hostname   VARCHAR(255),
    started_at BIGINT NOT NULL,   -- unix microseconds, like every time here
    last_seen  BIGINT NOT NULL
);
