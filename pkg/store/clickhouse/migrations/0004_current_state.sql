-- Current state kept on write, so that current-state queries read one small row per place or gap
-- rather than every evaluation, observation and event. Tables read by key lookups (one artifact
-- at a time on write) index every 1024 rows rather than 8192.
--
-- The current score of each (digest, environment): a writer inserts a row only for a
-- score newer than the stored one (by evaluation time, then evaluation ID) or for the same
-- evaluation changed, with a version greater than the stored row's, so the row with the greatest
-- version is the current score. Gaps are parallel arrays in the score's order.
CREATE TABLE IF NOT EXISTS scores_latest (
    digest              String,
    environment         String,
    evaluation_id       String,
    evaluated_ns        UInt64, -- evaluated_at in Unix nanoseconds
    repository          String,
    org                 String,
    team                String,
    level               UInt8,
    risk                UInt8,
    verified_provenance UInt8,
    gap_codes           Array(String),
    gap_severities      Array(String),
    gap_messages        Array(String),
    gap_rules           Array(String),
    version             UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, environment)
SETTINGS index_granularity = 1024;

-- Scores written before this migration: the latest of each place, its gaps read back from the
-- score's JSON (Go writes a gap's four fields in this order). Running it again inserts the same
-- rows, which collapse.
INSERT INTO scores_latest (digest, environment, evaluation_id, evaluated_ns, repository, org, team, level, risk,
    verified_provenance, gap_codes, gap_severities, gap_messages, gap_rules, version)
SELECT digest, environment, s_eval, s_version, s_repository, s_org, s_team, s_level, s_risk, s_verified,
    arrayMap(g -> visitParamExtractString(g, 'code'), s_gaps),
    arrayMap(g -> visitParamExtractString(g, 'severity'), s_gaps),
    arrayMap(g -> visitParamExtractString(g, 'message'), s_gaps),
    arrayMap(g -> visitParamExtractString(g, 'rule'), s_gaps),
    s_version
FROM (
    SELECT digest, environment,
        argMax(evaluation_id, (version, evaluation_id)) AS s_eval,
        max(version) AS s_version,
        argMax(repository, (version, evaluation_id)) AS s_repository,
        argMax(org, (version, evaluation_id)) AS s_org,
        argMax(team, (version, evaluation_id)) AS s_team,
        argMax(level, (version, evaluation_id)) AS s_level,
        argMax(risk, (version, evaluation_id)) AS s_risk,
        argMax(verified_provenance, (version, evaluation_id)) AS s_verified,
        extractAll(argMax(score, (version, evaluation_id)),
            '\\{"code":"(?:[^"\\\\]|\\\\.)*","severity":"(?:[^"\\\\]|\\\\.)*","message":"(?:[^"\\\\]|\\\\.)*","rule":"(?:[^"\\\\]|\\\\.)*"\\}') AS s_gaps
    FROM scores FINAL
    GROUP BY digest, environment
);

-- Every gap event; the natural key is (fingerprint, evaluation_id, state), and the fingerprint
-- is a function of (digest, environment, code). Writers skip events already stored; one written
-- twice at once collapses.
CREATE TABLE IF NOT EXISTS gap_events (
    digest        String,
    environment   String,
    code          String,
    evaluation_id String,
    state         String, -- 'opened' or 'closed'
    fingerprint   String,
    at            DateTime,
    at_ns         UInt64, -- at in Unix nanoseconds
    repository    String,
    org           String,
    team          String,
    severity      String,
    message       String,
    rule          String
) ENGINE = ReplacingMergeTree
ORDER BY (digest, environment, code, evaluation_id, state)
SETTINGS index_granularity = 1024;

-- Where each artifact is deployed, per (org, team, environment) group of its deployments (the
-- newest observation of each key): whether one runs there, the first running deployment (by
-- cluster, namespace, workload and repository), and the current score of the environment (zeros
-- when unscored). Rewritten, for an artifact, by every write that changes it; the row with the
-- greatest version is the state. Coverage, its roll-ups and component search read this rather
-- than deployments and scores.
CREATE TABLE IF NOT EXISTS placements (
    digest      String,
    org         String,
    team        String,
    environment String,
    running     UInt8,
    repository  String,
    cluster     String,
    namespace   String,
    workload    String,
    level       UInt8,
    verified    UInt8,
    with_gaps   UInt8,
    gap_codes   Array(String),
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, org, team, environment)
SETTINGS index_granularity = 1024;

-- The gap feed: one row per gap (digest, environment, code) ever found or evented, as the feed
-- lists it: state 'open' (the current score has the gap and a deployment runs there), 'closed'
-- (not open, and its latest event closed it) or '' (neither: not listed). Rewritten, for an
-- artifact, by every write of its evaluations or gap events that changes it, from the current
-- scores, the deployments and the events; the row with the greatest version is the state.
CREATE TABLE IF NOT EXISTS current_gaps (
    digest      String,
    environment String,
    code        String,
    state       String,
    repository  String,
    org         String,
    team        String,
    severity    String,
    message     String,
    rule        String,
    level       UInt8,
    opened_ns   UInt64,
    closed_ns   UInt64, -- 0 unless closed
    item_hash   UInt64, -- FNV-1a of the item's fields, for the feed's version
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, environment, code)
SETTINGS index_granularity = 1024;
