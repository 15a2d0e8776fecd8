-- Daily coverage roll-ups: one row per (UTC day, org, team, environment) group, as Coverage
-- counts it for that group; a day's roll-up replaces that day's rows as a whole.
CREATE TABLE IF NOT EXISTS coverage_rollups (
    day         INTEGER NOT NULL, -- Unix seconds of the start of the UTC day
    org         TEXT    NOT NULL,
    team        TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    total       INTEGER NOT NULL,
    l0          INTEGER NOT NULL,
    l1          INTEGER NOT NULL,
    l2          INTEGER NOT NULL,
    l3          INTEGER NOT NULL,
    verified    INTEGER NOT NULL,
    with_gaps   INTEGER NOT NULL,
    computed_at INTEGER NOT NULL, -- Unix nanoseconds
    PRIMARY KEY (day, org, team, environment)
) STRICT;
