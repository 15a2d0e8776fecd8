-- Coverage kept on write, so that Coverage reads a handful of rows instead of every placement.
-- Each artifact counts in the cells of the coverage cube (as in coverage_cells: dims says which
-- of org, team and environment are labels, 1, 2 and 4; the others are '*') of its running
-- placements, with what Coverage counts for it there: total 1, one of l0 to l3 for its highest
-- level, verified and with_gaps (gaps, accepted or not) 0 or 1. The rows are signed changes,
-- summed: a refresh (see state.go) reads an artifact's net counts (its rows), and writes the
-- difference to what they must be, both under the artifact's digest and under digest '', in one
-- insert, so that the rows of digest '' always sum to the rows of every artifact: the cube.
-- Two refreshes of one artifact racing may both write the same difference; its next refresh
-- writes it back. Merges sum the rows of a key and drop those that sum to zero.
CREATE TABLE IF NOT EXISTS coverage_live (
    digest      String, -- '' for the cube
    dims        UInt8,
    org         String,
    team        String,
    environment String,
    total       Int64,
    l0          Int64,
    l1          Int64,
    l2          Int64,
    l3          Int64,
    verified    Int64,
    with_gaps   Int64
) ENGINE = SummingMergeTree
ORDER BY (digest, dims, org, team, environment)
SETTINGS index_granularity = 1024;

-- The gap feed in the order it is read, by opening time, then digest, environment and code, so
-- that a page is a range of it. A refresh that writes a row of current_gaps first writes here,
-- with the same version, the item where it now sorts, and an empty state where it sorted before
-- when that moved (readers skip rows of state ''). Readers take a row for the item only when its
-- version is that of the item's row in current_gaps, which is the truth: a row left behind by a
-- failed or racing refresh is skipped.
CREATE TABLE IF NOT EXISTS gap_feed (
    opened_ns   UInt64,
    digest      String,
    environment String,
    code        String,
    state       String,
    org         String,
    team        String,
    severity    String,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (opened_ns, digest, environment, code)
SETTINGS index_granularity = 1024;

-- The feed as it was. Running it again inserts the same rows, which collapse.
INSERT INTO gap_feed (opened_ns, digest, environment, code, state, org, team, severity, version)
SELECT opened_ns, digest, environment, code, state, org, team, severity, version
FROM current_gaps FINAL
WHERE state != '';
