-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- The live worker's 1 Hz telemetry samples of each session (issue 10), so
-- that GET /v1/streams/{id}/stats shows a session's history after a
-- service restart. PostgreSQL: ../postgresql/0009. A sample is the JSON
-- object the WebSocket carried; the kernel keeps the last 3600 of a
-- session, and they go with their session (and so with their stream).
CREATE TABLE stream_telemetry (
    session_id  TEXT NOT NULL REFERENCES stream_sessions (id) ON DELETE CASCADE,
    time_ms     INTEGER NOT NULL,
    sample      TEXT NOT NULL
);
CREATE INDEX idx_stream_telemetry_session ON stream_telemetry (session_id, time_ms);
