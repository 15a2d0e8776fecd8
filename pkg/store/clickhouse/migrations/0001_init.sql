-- The initial schema. It runs on ClickHouse 18.16 and on current releases: no LowCardinality,
-- DateTime64, Map, JSON or TTL. Every table is a ReplacingMergeTree keyed by its natural key
-- with a UInt64 version (a time in Unix nanoseconds), so a re-delivered write replaces its own
-- row and readers use FINAL, argMax or LIMIT 1 BY to see only the newest version. DateTime
-- columns (seconds, UTC) are for analytics; exact times come from the version columns and from
-- the JSON documents. Every statement must be safe to run twice, and ends with ';' at the end
-- of a line.

-- One row per artifact: a pointer to its latest evidence collection.
CREATE TABLE IF NOT EXISTS artifacts (
    digest              String,
    repository          String,
    collected_at        DateTime,
    errors              Array(String),
    evidence_count      UInt32,
    verified_provenance UInt8,
    version             UInt64 -- collected_at in Unix nanoseconds
) ENGINE = ReplacingMergeTree(version)
ORDER BY digest;

-- Every collection's documents, in the order they were collected. A collection is written before
-- the artifacts row that points at it, so readers never see half of one.
CREATE TABLE IF NOT EXISTS evidence (
    digest            String,
    version           UInt64, -- the collection's collected_at in Unix nanoseconds
    position          UInt32,
    collected_at      DateTime,
    evidence_id       String,
    kind              String,
    source            String,
    media_type        String,
    predicate_type    String,
    subject_match     UInt8,
    signed            UInt8,
    verified          UInt8,
    signer_issuer     String,
    signer_identity   String,
    builder_id        String,
    source_repository String,
    malformed         String,
    document          String -- the evidence.Evidence as JSON
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, version, position);

-- One row per deployment key: its latest observation, and when it was first and last seen.
CREATE TABLE IF NOT EXISTS deployments (
    digest         String,
    deployment_key String,
    repository     String,
    org            String,
    team           String,
    environment    String,
    cluster        String,
    namespace      String,
    workload       String,
    first_seen     DateTime,
    last_seen      DateTime,
    version        UInt64 -- last_seen in Unix nanoseconds
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, deployment_key);

-- Every evaluation, append-only: one row per (digest, environment, evaluation_id).
CREATE TABLE IF NOT EXISTS scores (
    digest              String,
    environment         String,
    evaluation_id       String,
    evaluated_at        DateTime,
    repository          String,
    org                 String,
    team                String,
    level               UInt8,
    risk                UInt8,
    verified_provenance UInt8,
    gap_codes           Array(String),
    policy_version      String,
    score               String, -- the evidence.Score as JSON
    version             UInt64  -- evaluated_at in Unix nanoseconds
) ENGINE = ReplacingMergeTree(version)
ORDER BY (digest, environment, evaluation_id);

-- The current score of each (digest, environment): the latest evaluation, ties broken by the
-- greatest evaluation ID.
CREATE VIEW IF NOT EXISTS scores_current AS
SELECT digest, environment, evaluation_id, evaluated_at, repository, org, team, level, risk,
    verified_provenance, gap_codes, policy_version, score, version
FROM scores FINAL
ORDER BY digest, environment, version DESC, evaluation_id DESC
LIMIT 1 BY digest, environment;
