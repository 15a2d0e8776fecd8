-- The initial schema. Times are Unix nanoseconds (UTC); a row's time column doubles as its
-- version, so a write only replaces a row when it is at least as new.

-- One row per artifact digest: the latest evidence collection.
CREATE TABLE IF NOT EXISTS artifacts (
    digest              TEXT    NOT NULL PRIMARY KEY,
    repository          TEXT    NOT NULL,
    collected_at        INTEGER NOT NULL,
    errors              TEXT    NOT NULL, -- JSON array of strings
    evidence_count      INTEGER NOT NULL,
    verified_provenance INTEGER NOT NULL  -- 1 when a matching provenance verified
) STRICT;

-- The documents of each artifact's latest collection, in the order they were collected.
CREATE TABLE IF NOT EXISTS evidence (
    digest         TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    evidence_id    TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    predicate_type TEXT    NOT NULL,
    subject_match  INTEGER NOT NULL,
    signed         INTEGER NOT NULL,
    verified       INTEGER NOT NULL,
    builder_id     TEXT    NOT NULL,
    document       TEXT    NOT NULL, -- the evidence.Evidence as JSON
    PRIMARY KEY (digest, position)
) STRICT;
CREATE INDEX IF NOT EXISTS evidence_by_id ON evidence (evidence_id);

-- One row per deployment key: its latest observation, and when it was first and last seen.
CREATE TABLE IF NOT EXISTS deployments (
    deployment_key TEXT    NOT NULL PRIMARY KEY,
    digest         TEXT    NOT NULL,
    repository     TEXT    NOT NULL,
    org            TEXT    NOT NULL,
    team           TEXT    NOT NULL,
    environment    TEXT    NOT NULL,
    cluster        TEXT    NOT NULL,
    namespace      TEXT    NOT NULL,
    workload       TEXT    NOT NULL,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS deployments_by_digest ON deployments (digest);
CREATE INDEX IF NOT EXISTS deployments_by_owner ON deployments (org, team, environment);

-- Every evaluation: one row per (digest, environment, evaluation_id), never duplicated.
CREATE TABLE IF NOT EXISTS scores (
    digest              TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    evaluation_id       TEXT    NOT NULL,
    evaluated_at        INTEGER NOT NULL,
    repository          TEXT    NOT NULL,
    org                 TEXT    NOT NULL,
    team                TEXT    NOT NULL,
    level               INTEGER NOT NULL,
    risk                INTEGER NOT NULL,
    verified_provenance INTEGER NOT NULL,
    gap_codes           TEXT    NOT NULL, -- JSON array of gap codes
    gap_count           INTEGER NOT NULL,
    policy_version      TEXT    NOT NULL,
    score               TEXT    NOT NULL, -- the evidence.Score as JSON
    PRIMARY KEY (digest, environment, evaluation_id)
) STRICT;
CREATE INDEX IF NOT EXISTS scores_by_owner ON scores (org, team, environment);

-- The current score of each (digest, environment): the latest evaluation, ties broken by the
-- greatest evaluation ID.
CREATE VIEW IF NOT EXISTS scores_current AS
SELECT digest, environment, evaluation_id, evaluated_at, repository, org, team, level, risk,
       verified_provenance, gap_codes, gap_count, policy_version, score
FROM (
    SELECT s.*, row_number() OVER (
        PARTITION BY digest, environment ORDER BY evaluated_at DESC, evaluation_id DESC
    ) AS rank
    FROM scores AS s
)
WHERE rank = 1;
