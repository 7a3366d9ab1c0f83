-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Which kernel runs each restream (issue 11; docs/architecture.md
-- "Restreams in cluster mode"). SQLite: ../sqlite/0012.
--
-- A restream that should run is run by exactly one kernel: the one that
-- won an atomic conditional UPDATE setting owner_kernel and a lease
-- (lease_until, unix microseconds) while no other kernel held a live one.
-- The owner renews the lease every second; one whose lease ran out is
-- adopted by another kernel. fired is the key of the schedule firing that
-- last started it ("<schedule hash>:<at or minute>"): a firing is claimed
-- with the lease in the same UPDATE, so one firing starts one run even
-- with every kernel ticking at the same second. run_until (unix seconds,
-- 0 = open-ended) is when that run ends (schedule_config.duration_s).
ALTER TABLE restreams ADD COLUMN owner_kernel TEXT;
ALTER TABLE restreams ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE restreams ADD COLUMN fired TEXT;
ALTER TABLE restreams ADD COLUMN run_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX idx_restreams_owner ON restreams (owner_kernel);
