-- Exceptions (risk acceptances) and their audit log. An exception's current state is its row of
-- the greatest version (the change's time in Unix nanoseconds); the document column holds the
-- store.Exception as JSON, the other columns what readers filter on. Every change appends one
-- audit row, keyed by (org, id, version) so that writing a change twice keeps one row.
CREATE TABLE IF NOT EXISTS exceptions (
    org      String,
    id       String,
    code     String,
    document String,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org, id);

CREATE TABLE IF NOT EXISTS exception_audit (
    org      String,
    id       String,
    version  UInt64,
    at_ns    UInt64,
    actor    String,
    action   String,
    document String -- the store.ExceptionChange as JSON
) ENGINE = ReplacingMergeTree
ORDER BY (org, id, version);
