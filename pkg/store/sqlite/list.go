package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/internal/listing"
)

// listArtifacts lists the artifacts after a digest (?4) with a matching deployment (org ?1,
// team ?2, environment ?3; an empty one matches all) that runs, or, when ?5 is 1, whose matching
// deployments all ended; each is summarised over the environments of its running matching
// deployments, or of all its matching ones when none runs. The summaries are filtered by
// repository (?6), highest level (?7, -1 for any) and current gap code (?8), ordered by digest,
// at most ?9. An unscored environment counts as level 0 without gaps. environments and gap_codes
// are JSON arrays (gap_codes one array per environment) that the caller sorts and merges.
const listArtifacts = `
	WITH matching AS (
		SELECT digest, environment, max(ended_at IS NULL) AS running
		FROM deployments
		WHERE digest > ?4
			AND (?1 = '' OR org = ?1) AND (?2 = '' OR team = ?2) AND (?3 = '' OR environment = ?3)
		GROUP BY digest, environment
	), listed AS (
		SELECT digest, environment FROM matching AS m
		WHERE running OR (?5 AND NOT EXISTS (SELECT 1 FROM matching AS r WHERE r.digest = m.digest AND r.running))
	), per_artifact AS (
		SELECT l.digest,
			coalesce(max(c.level), 0) AS level,
			coalesce(max(c.risk), 0) AS risk,
			coalesce(max(c.verified_provenance), 0) AS verified,
			max(EXISTS (SELECT 1 FROM json_each(c.gap_codes) AS g WHERE g.value = ?8)) AS has_gap,
			json_group_array(l.environment) AS environments,
			json_group_array(json(coalesce(c.gap_codes, '[]'))) AS gap_codes
		FROM listed AS l
		LEFT JOIN scores_current AS c ON c.digest = l.digest AND c.environment = l.environment
		GROUP BY l.digest
	)
	SELECT p.digest, a.repository, a.collected_at, p.level, p.risk, p.verified, p.environments, p.gap_codes
	FROM per_artifact AS p JOIN artifacts AS a ON a.digest = p.digest
	WHERE (?6 = '' OR a.repository = ?6) AND (?7 < 0 OR p.level = ?7) AND (?8 = '' OR p.has_gap)
	ORDER BY p.digest
	LIMIT ?9`

// ListArtifacts returns one page of the artifacts q matches, ordered by digest, and the cursor
// of the next page ("" on the last). The error wraps evidence.ErrInvalid when q is invalid, and
// otherwise reports a failing database.
func (s *Store) ListArtifacts(ctx context.Context, q store.ArtifactQuery) ([]store.ArtifactSummary, string, error) {
	if err := q.Validate(); err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	after, _ := q.AfterDigest() // valid: checked above
	level := -1
	if q.Level != nil {
		level = int(*q.Level)
	}
	limit := q.PageSize()
	rows, err := s.stmts[listArtifacts].QueryContext(ctx, q.Org, q.Team, q.Environment, string(after),
		q.IncludeEnded, q.Repository, level, q.Gap, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	defer rows.Close()
	items := []store.ArtifactSummary{}
	for rows.Next() {
		var a store.ArtifactSummary
		var collectedAt int64
		var envs, gaps []byte
		if err := rows.Scan(&a.Image.Digest, &a.Image.Repository, &collectedAt, &a.SLSALevel, &a.Risk,
			&a.VerifiedProvenance, &envs, &gaps); err != nil {
			return nil, "", fmt.Errorf("listing artifacts: %w", err)
		}
		a.CollectedAt = time.Unix(0, collectedAt).UTC()
		var perEnv [][]string
		if err := json.Unmarshal(envs, &a.Environments); err != nil {
			return nil, "", fmt.Errorf("listing artifacts: decoding environments of %s: %w", a.Image.Digest, err)
		}
		if err := json.Unmarshal(gaps, &perEnv); err != nil {
			return nil, "", fmt.Errorf("listing artifacts: decoding gaps of %s: %w", a.Image.Digest, err)
		}
		a.Environments = listing.Set(a.Environments)
		a.Gaps = listing.Set(slices.Concat(perEnv...))
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("listing artifacts: %w", err)
	}
	items, next := listing.Page(items, limit)
	return items, next, nil
}

// EachArtifact calls fn with the detail of every artifact with a deployment that has not ended,
// in digest order, loading them a batch at a time; fn may call the store. It returns fn's first
// error, wrapped, or an error of the database.
func (s *Store) EachArtifact(ctx context.Context, fn func(store.ArtifactDetail) error) error {
	return listing.Each(ctx, s.ListArtifacts, s.details, fn)
}
