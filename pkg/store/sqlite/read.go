package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	// selectCoverage counts, per level, the artifacts deployed where the query matches and not
	// ended: each at the highest current level over its matching environments (0 when unscored),
	// verified or with gaps when any current score there is.
	selectCoverage = `
		WITH deployed AS (
			SELECT DISTINCT digest, environment FROM deployments
			WHERE ended_at IS NULL
				AND (?1 = '' OR org = ?1) AND (?2 = '' OR team = ?2) AND (?3 = '' OR environment = ?3)
		), per_artifact AS (
			SELECT d.digest,
				coalesce(max(c.level), 0) AS level,
				coalesce(max(c.verified_provenance), 0) AS verified,
				coalesce(max(c.gap_count > 0), 0) AS with_gaps
			FROM deployed AS d
			LEFT JOIN scores_current AS c ON c.digest = d.digest AND c.environment = d.environment
			GROUP BY d.digest
		)
		SELECT level, count(*), sum(verified), sum(with_gaps) FROM per_artifact GROUP BY level`

	selectArtifact = `SELECT repository, collected_at, errors FROM artifacts WHERE digest = ?`

	selectEvidence = `SELECT document FROM evidence WHERE digest = ? ORDER BY position`

	selectDeployments = `
		SELECT repository, org, team, environment, cluster, namespace, workload, last_seen, ended_at
		FROM deployments WHERE digest = ?
		ORDER BY environment, cluster, namespace, workload, org, repository`

	selectCurrentScores = `SELECT score FROM scores_current WHERE digest = ? ORDER BY environment`

	selectScoreHistory = `SELECT score FROM scores WHERE digest = ? ORDER BY evaluated_at, evaluation_id, environment`
)

// Coverage counts the artifacts deployed where q matches, by their highest current level in the
// matching environments; deployments whose latest observation ended them do not count. It
// returns an error only when the database fails.
func (s *Store) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	c := store.Coverage{ByLevel: map[string]int{}}
	for l := evidence.Level(0); l <= 3; l++ {
		c.ByLevel[l.String()] = 0
	}
	rows, err := s.stmts[selectCoverage].QueryContext(ctx, q.Org, q.Team, q.Environment)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level evidence.Level
		var n, verified, withGaps int
		if err := rows.Scan(&level, &n, &verified, &withGaps); err != nil {
			return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
		}
		c.Total += n
		c.ByLevel[level.String()] += n
		c.VerifiedProvenance += verified
		c.WithGaps += withGaps
	}
	if err := rows.Err(); err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	return c, nil
}

// Artifact returns the artifact with digest d: its latest evidence set, its current score per
// environment and its deployments, ended ones included. The error wraps store.ErrNotFound when d
// was never written.
func (s *Store) Artifact(ctx context.Context, d evidence.Digest) (store.ArtifactDetail, error) {
	a := store.ArtifactDetail{Image: evidence.ImageRef{Digest: d}}
	var collectedAt int64
	var errs string
	err := s.stmts[selectArtifact].QueryRowContext(ctx, string(d)).Scan(&a.Image.Repository, &collectedAt, &errs)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, store.ErrNotFound)
	}
	if err != nil {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, err)
	}
	a.CollectedAt = time.Unix(0, collectedAt).UTC()
	if err := json.Unmarshal([]byte(errs), &a.Errors); err != nil {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: decoding errors: %w", d, err)
	}
	if len(a.Errors) == 0 {
		a.Errors = nil
	}
	if a.Evidence, err = queryJSON[evidence.Evidence](ctx, s.stmts[selectEvidence], d); err != nil {
		return store.ArtifactDetail{}, fmt.Errorf("reading evidence of %s: %w", d, err)
	}
	if a.Scores, err = s.CurrentScores(ctx, d); err != nil {
		return store.ArtifactDetail{}, err
	}
	if a.Deployments, err = s.deployments(ctx, d); err != nil {
		return store.ArtifactDetail{}, err
	}
	return a, nil
}

func (s *Store) deployments(ctx context.Context, d evidence.Digest) ([]evidence.Deployment, error) {
	rows, err := s.stmts[selectDeployments].QueryContext(ctx, string(d))
	if err != nil {
		return nil, fmt.Errorf("reading deployments of %s: %w", d, err)
	}
	defer rows.Close()
	deps := []evidence.Deployment{}
	for rows.Next() {
		dep := evidence.Deployment{Image: evidence.ImageRef{Digest: d}}
		var observed int64
		var ended sql.NullInt64
		if err := rows.Scan(&dep.Image.Repository, &dep.Org, &dep.Team, &dep.Environment, &dep.Cluster,
			&dep.Namespace, &dep.Workload, &observed, &ended); err != nil {
			return nil, fmt.Errorf("reading deployments of %s: %w", d, err)
		}
		dep.ObservedAt = time.Unix(0, observed).UTC()
		if ended.Valid {
			at := time.Unix(0, ended.Int64).UTC()
			dep.EndedAt = &at
		}
		deps = append(deps, dep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading deployments of %s: %w", d, err)
	}
	return deps, nil
}

// CurrentScores returns the current score of artifact d in each environment, ordered by
// environment: the latest evaluation, ties broken by the greatest evaluation ID. It is empty,
// not nil, when d was never scored; the error reports a failing database.
func (s *Store) CurrentScores(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s.stmts[selectCurrentScores], d)
	if err != nil {
		return nil, fmt.Errorf("reading current scores of %s: %w", d, err)
	}
	return scores, nil
}

// ScoreHistory returns every evaluation of artifact d, ordered by evaluation time, then
// evaluation ID, then environment. It is empty, not nil, when d was never scored; the error
// reports a failing database.
func (s *Store) ScoreHistory(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s.stmts[selectScoreHistory], d)
	if err != nil {
		return nil, fmt.Errorf("reading score history of %s: %w", d, err)
	}
	return scores, nil
}

// queryJSON runs query with digest d and decodes the one JSON column of each row into a T. The
// result is empty, not nil, when there are no rows.
func queryJSON[T any](ctx context.Context, query *sql.Stmt, d evidence.Digest) ([]T, error) {
	rows, err := query.QueryContext(ctx, string(d))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("decoding %T: %w", v, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
