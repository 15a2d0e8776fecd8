-- Deployments can end: ended_at is when the artifact stopped running at the key's place, in Unix
-- nanoseconds, as the key's latest observation says; NULL while it runs. Coverage counts only
-- deployments whose ended_at is NULL; a later observation without an end clears it.
ALTER TABLE deployments ADD COLUMN ended_at INTEGER;
