-- Daily coverage roll-ups as a cube, so that a trend point counts each artifact once: per UTC
-- day, one row per combination of an org, team and environment of the running deployments,
-- each of them possibly '*' (all of them; '*' is not a valid label), holding what Coverage
-- returns for the labels among them. A day's roll-up replaces that day's rows as a whole; Trend
-- reads the rows whose grouping is a label, whose filtered labels equal the filters and whose
-- other labels are '*'.
CREATE TABLE IF NOT EXISTS coverage_cells (
    day         INTEGER NOT NULL, -- Unix seconds of the start of the UTC day
    org         TEXT    NOT NULL, -- a label, or '*'
    team        TEXT    NOT NULL, -- a label, '' (no team) or '*'
    environment TEXT    NOT NULL, -- a label, or '*'
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

-- The roll-ups of migration 0005 summed per (org, team, environment) group: each row is exactly
-- the cell of its three labels, so it is kept as one. Their days have no cells with '*', which
-- no sum of groups gives without counting an artifact in two groups twice: only trends filtered
-- by the two dimensions they are not grouped by find those days.
INSERT OR IGNORE INTO coverage_cells
    (day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, computed_at)
SELECT day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, computed_at
FROM coverage_rollups;

DROP TABLE coverage_rollups;
