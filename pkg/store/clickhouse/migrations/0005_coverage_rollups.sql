-- Daily coverage roll-ups: per UTC day and (org, team, environment) group, the coverage as
-- Coverage counts it, from a roll-up run (its version, in Unix nanoseconds). A run writes its
-- rows, then its coverage_rollup_runs row; readers keep, per day, the groups whose newest row is
-- from that day's newest recorded run or a later one, so groups no longer deployed drop out and
-- a run that failed half-way hides nothing.
CREATE TABLE IF NOT EXISTS coverage_rollups (
    day         Date,
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
ORDER BY (day, org, team, environment);

CREATE TABLE IF NOT EXISTS coverage_rollup_runs (
    day Date,
    run UInt64
) ENGINE = ReplacingMergeTree(run)
ORDER BY day;
