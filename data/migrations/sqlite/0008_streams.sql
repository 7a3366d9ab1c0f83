-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Live streams (spec §4.3, issue 10) and one row per publish of a stream
-- (stream_sessions). PostgreSQL: ../postgresql/0008. Times are unix
-- microseconds.
--
-- The stream key is never stored: key_hash is "sha256:<hex>" of it (what the
-- ingest servers look a presented key up by), key_sealed and
-- srt_passphrase_sealed are AES-256-GCM copies under a key derived from the
-- service secret (src/core/we-stream-keys.c) so the studio can reveal them,
-- and key_hint is the key's last four characters. play_name is the separate
-- public name of the live HLS URLs.
CREATE TABLE streams (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL,
    title                  TEXT NOT NULL,
    description            TEXT,
    thumbnail_url          TEXT,
    key_hash               TEXT NOT NULL UNIQUE,
    key_sealed             TEXT NOT NULL,
    key_hint               TEXT NOT NULL,
    srt_passphrase_sealed  TEXT NOT NULL,
    play_name              TEXT NOT NULL UNIQUE,
    ingest_server          TEXT,
    is_live                INTEGER NOT NULL DEFAULT 0,
    current_session_id     TEXT,
    current_viewers        INTEGER NOT NULL DEFAULT 0,
    total_viewers_lifetime INTEGER NOT NULL DEFAULT 0,
    started_at             INTEGER,
    ended_at               INTEGER,
    last_stats             TEXT,
    archive_enabled        INTEGER NOT NULL DEFAULT 1,
    record                 INTEGER NOT NULL DEFAULT 0,
    latency_mode           TEXT NOT NULL DEFAULT 'normal'
                           CHECK (latency_mode IN ('normal', 'low')),
    ladder_profile_id      TEXT,
    archive_vod_job_id     TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    restream_destinations  TEXT NOT NULL DEFAULT '[]',
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX idx_streams_user ON streams (user_id);
CREATE INDEX idx_streams_live ON streams (is_live);
CREATE INDEX idx_streams_created ON streams (created_at DESC);

CREATE TABLE stream_sessions (
    id           TEXT PRIMARY KEY,
    stream_id    TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    protocol     TEXT NOT NULL CHECK (protocol IN ('rtmp', 'srt')),
    remote_addr  TEXT,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    end_reason   TEXT,
    bytes_in     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_stream_sessions_stream ON stream_sessions (stream_id, started_at DESC);
