-- Deployments can end: the key's latest observation (the row with the greatest version) says
-- whether the artifact stopped running there. ended_ns is the exact end in Unix nanoseconds, 0
-- while it runs; ended_at is the same in seconds for analytics, the epoch while it runs. Rows
-- written before this migration read as running. Coverage counts only keys whose newest row has
-- ended_ns = 0.
--
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migration runner makes each statement
-- that adds one column idempotent itself (see execMigration).
ALTER TABLE deployments ADD COLUMN ended_at DateTime DEFAULT toDateTime(0);
ALTER TABLE deployments ADD COLUMN ended_ns UInt64 DEFAULT 0;
