-- API token records: everything but the secret, of which only the SHA-256 hash is kept.
CREATE TABLE IF NOT EXISTS tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL, -- JSON array of strings
    org          TEXT    NOT NULL,
    teams        TEXT    NOT NULL, -- JSON array of strings
    environments TEXT    NOT NULL, -- JSON array of strings
    created_at   INTEGER NOT NULL, -- Unix nanoseconds
    expires_at   INTEGER,          -- Unix nanoseconds; NULL when the token does not expire
    revoked_at   INTEGER           -- Unix nanoseconds; NULL unless revoked
) STRICT;
CREATE INDEX IF NOT EXISTS tokens_by_hash ON tokens (hash);
