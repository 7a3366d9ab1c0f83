-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Restream jobs (spec §4.6, §10.3, issue 11). PostgreSQL: ../postgresql/0011.
-- Times are unix microseconds.
--
-- doc is the restream's definition as JSON (title, input, playlist,
-- destinations, schedule, loop and pacing): the API validates it and only
-- src/api/we-api-restreams.c and src/core/we-restream.c read it. A
-- destination's URL is in it only sealed (AES-256-GCM, like stream keys:
-- stream keys sit in those URLs) next to its masked form. status and
-- stats are what the runner reports, kept apart from doc so that a stats
-- write never races an edit of the definition.
CREATE TABLE restreams (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'stopped'
                CHECK (status IN ('stopped', 'starting', 'streaming', 'error')),
    doc         TEXT NOT NULL,
    stats       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX idx_restreams_created ON restreams (created_at DESC);
