-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Error tracking (spec 2.5, issue 9): 0001 created error_events as the spec
-- describes it; triage also wants to know when and by whom an error was
-- resolved (both NULL while it is open). PostgreSQL: ../postgresql/0007.
-- Times are unix microseconds. context_data reaches the table with its
-- secret-looking members already redacted (src/api/we-api-errors.c).
ALTER TABLE error_events ADD COLUMN resolved_at INTEGER;
ALTER TABLE error_events ADD COLUMN resolved_by TEXT;
