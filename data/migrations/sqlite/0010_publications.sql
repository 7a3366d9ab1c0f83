-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Publications of finished jobs to external platforms (issue 11, spec §7.5).
-- PostgreSQL: ../postgresql/0010. The row's searchable members are columns;
-- everything else (the request: title, tags, privacy…, progress, the result)
-- is the publication's JSON document, which the kernel's publish runner
-- (src/core/we-publish.c) owns. A publication goes with its job.
CREATE TABLE publications (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX idx_publications_job ON publications (job_id, created_at);
CREATE INDEX idx_publications_status ON publications (status, created_at);
