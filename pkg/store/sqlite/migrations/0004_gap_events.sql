-- Every gap event: an evaluation opened or closed the gap with a fingerprint (the digest,
-- environment and code). Writing an event again changes nothing. The open gaps themselves are
-- read from the current scores; events give them their opening time and list closed gaps.
CREATE TABLE IF NOT EXISTS gap_events (
    fingerprint   TEXT    NOT NULL,
    evaluation_id TEXT    NOT NULL,
    state         TEXT    NOT NULL, -- 'opened' or 'closed'
    at            INTEGER NOT NULL, -- Unix nanoseconds
    digest        TEXT    NOT NULL,
    repository    TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    org           TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    code          TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    PRIMARY KEY (fingerprint, evaluation_id, state)
) STRICT;
CREATE INDEX IF NOT EXISTS gap_events_by_gap ON gap_events (digest, environment, code, state, at);
