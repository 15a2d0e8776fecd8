-- API token records: everything but the secret, of which only the SHA-256 hash is kept. A put
-- replaces the record with the same ID: the row with the greatest version (the put's time in
-- Unix nanoseconds, increasing within a process) is the record.
CREATE TABLE IF NOT EXISTS tokens (
    id           String,
    name         String,
    hash         String,
    scopes       Array(String),
    org          String,
    teams        Array(String),
    environments Array(String),
    created_ns   UInt64,
    expires_ns   Nullable(UInt64),
    revoked_ns   Nullable(UInt64),
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
