-- Daily coverage roll-ups as a cube, so that a trend point counts each artifact once: per UTC
-- day and roll-up run, one row per combination of an org, team and environment of the running
-- deployments, each of them possibly '*' (all of them; '*' is not a valid label), holding what
-- Coverage returns for the labels among them. dims says which of the three are labels (1 org,
-- 2 team, 4 environment), so that the cells a trend reads — one grouping, its filters — are
-- next to each other in every day. Runs are recorded in coverage_rollup_runs as before: a run
-- writes its cells, then coverage_rollups (below), then its run row; readers keep, per day, the
-- cells whose newest row is from that day's newest recorded run or a later one.
--
-- coverage_rollups (migration 0005) is still written, for the dashboards that read it: its rows
-- are the cells of three labels, exactly what they were.
CREATE TABLE IF NOT EXISTS coverage_cells (
    day         Date,
    dims        UInt8,
    org         String,
    team        String,
    environment String,
    total       UInt32,
    l0          UInt32,
    l1          UInt32,
    l2          UInt32,
    l3          UInt32,
    verified    UInt32,
    with_gaps   UInt32,
    run         UInt64
) ENGINE = ReplacingMergeTree(run)
ORDER BY (day, dims, org, team, environment)
SETTINGS index_granularity = 1024;

-- The roll-ups recorded before: each group's row is exactly the cell of its three labels, so it
-- is kept as one. Their days have no cells with '*', which no sum of groups gives without
-- counting an artifact in two groups twice: only trends filtered by the two dimensions they are
-- not grouped by find those days. Running it again inserts the same rows, which collapse.
INSERT INTO coverage_cells (day, dims, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run)
SELECT day, 7, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run
FROM coverage_rollups;
