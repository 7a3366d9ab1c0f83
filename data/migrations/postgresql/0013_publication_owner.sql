-- SPDX-License-Identifier: LGPL-2.1-or-later
--
-- Each publication has its own owner kernel (issue 11): the kernel that runs
-- it, first the one owning its job. A publication whose owner stopped beating
-- (kernels.last_seen, migration 0003) is adopted by a live kernel with one
-- conditional UPDATE, so exactly one kernel takes it over, even when its job
-- (completed, so never adopted with the active jobs) keeps a dead owner.
-- Mirrors ../sqlite/0013.
ALTER TABLE publications ADD COLUMN owner_kernel TEXT COLLATE "C";
CREATE INDEX idx_publications_owner ON publications (owner_kernel);
