-- Exceptions (risk acceptances) and their audit log. An exception's row is its newest version
-- (the change's time in Unix nanoseconds); document holds the store.Exception as JSON. Every
-- change appends one audit row, keyed by (id, version) so that writing it twice keeps one.
CREATE TABLE IF NOT EXISTS exceptions (
    id       TEXT    NOT NULL PRIMARY KEY,
    org      TEXT    NOT NULL,
    code     TEXT    NOT NULL,
    document TEXT    NOT NULL,
    version  INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS exceptions_by_org ON exceptions (org, id);

CREATE TABLE IF NOT EXISTS exception_audit (
    id       TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    org      TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    document TEXT    NOT NULL, -- the store.ExceptionChange as JSON
    PRIMARY KEY (id, version)
) STRICT;
