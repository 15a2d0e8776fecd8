package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	// coverageQuery counts, per level, the artifacts deployed where the filter (%s) matches and
	// not ended: each at the highest current level over its matching environments (0 when
	// unscored), verified or with gaps when any current score there is. Deployments are reduced to
	// their newest observation with argMax before filtering, so a superseded observation never
	// matches, and a key whose newest observation ended it (d_ended_ns > 0) is left out.
	// ClickHouse 18.16 needs the old JOIN syntax: ANY LEFT JOIN ... USING, and fills the
	// columns of unmatched rows with zeros.
	coverageQuery = `
		SELECT level, count(), sum(verified), sum(with_gaps)
		FROM (
			SELECT digest, max(s_level) AS level, max(s_verified) AS verified, max(s_with_gaps) AS with_gaps
			FROM (
				SELECT DISTINCT digest, environment
				FROM (
					SELECT digest,
						argMax(org, version) AS d_org,
						argMax(team, version) AS d_team,
						argMax(environment, version) AS environment,
						argMax(ended_ns, version) AS d_ended_ns
					FROM deployments
					GROUP BY digest, deployment_key
				)
				WHERE d_ended_ns = 0 AND %s
			)
			ANY LEFT JOIN (
				SELECT digest, environment, level AS s_level, verified_provenance AS s_verified,
					notEmpty(gap_codes) AS s_with_gaps
				FROM scores_current
			) USING (digest, environment)
			GROUP BY digest
		)
		GROUP BY level`

	selectArtifact = `SELECT repository, errors, version FROM artifacts FINAL WHERE digest = ?`

	selectEvidence = `SELECT document FROM evidence FINAL WHERE digest = ? AND version = ? ORDER BY position`

	selectDeployments = `
		SELECT repository, org, team, environment, cluster, namespace, workload, version, ended_ns
		FROM deployments FINAL WHERE digest = ?
		ORDER BY environment, cluster, namespace, workload, org, repository`

	selectCurrentScores = `
		SELECT score FROM scores FINAL WHERE digest = ?
		ORDER BY environment, version DESC, evaluation_id DESC
		LIMIT 1 BY environment`

	selectScoreHistory = `
		SELECT score FROM scores FINAL WHERE digest = ?
		ORDER BY version, evaluation_id, environment`
)

// Coverage counts the artifacts deployed where q matches, by their highest current level in the
// matching environments; deployments whose latest observation ended them do not count. It
// returns an error only when the server fails.
func (s *Store) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	var conds []string
	var args []any
	for _, f := range []struct{ column, value string }{
		{"d_org", q.Org}, {"d_team", q.Team}, {"environment", q.Environment},
	} {
		if f.value != "" {
			conds = append(conds, f.column+" = ?")
			args = append(args, f.value)
		}
	}
	where := "1"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	c := store.Coverage{ByLevel: map[string]int{}}
	for l := evidence.Level(0); l <= 3; l++ {
		c.ByLevel[l.String()] = 0
	}
	rows, err := s.conn.Query(ctx, fmt.Sprintf(coverageQuery, where), args...)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level uint8
		var n, verified, withGaps uint64
		if err := rows.Scan(&level, &n, &verified, &withGaps); err != nil {
			return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
		}
		c.Total += int(n)
		c.ByLevel[evidence.Level(level).String()] += int(n)
		c.VerifiedProvenance += int(verified)
		c.WithGaps += int(withGaps)
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
	rows, err := s.conn.Query(ctx, selectArtifact, string(d))
	if err != nil {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, err)
	}
	a := store.ArtifactDetail{Image: evidence.ImageRef{Digest: d}}
	var version uint64
	found := rows.Next()
	if found {
		err = rows.Scan(&a.Image.Repository, &a.Errors, &version)
	}
	err = firstErr(err, rows.Err(), rows.Close())
	if err != nil {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, err)
	}
	if !found {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, store.ErrNotFound)
	}
	a.CollectedAt = time.Unix(0, int64(version)).UTC()
	if len(a.Errors) == 0 {
		a.Errors = nil
	}
	if a.Evidence, err = queryJSON[evidence.Evidence](ctx, s, selectEvidence, string(d), version); err != nil {
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

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deployments(ctx context.Context, d evidence.Digest) ([]evidence.Deployment, error) {
	rows, err := s.conn.Query(ctx, selectDeployments, string(d))
	if err != nil {
		return nil, fmt.Errorf("reading deployments of %s: %w", d, err)
	}
	defer rows.Close()
	deps := []evidence.Deployment{}
	for rows.Next() {
		dep := evidence.Deployment{Image: evidence.ImageRef{Digest: d}}
		var version, ended uint64
		if err := rows.Scan(&dep.Image.Repository, &dep.Org, &dep.Team, &dep.Environment, &dep.Cluster,
			&dep.Namespace, &dep.Workload, &version, &ended); err != nil {
			return nil, fmt.Errorf("reading deployments of %s: %w", d, err)
		}
		dep.ObservedAt = time.Unix(0, int64(version)).UTC()
		if ended != 0 {
			at := time.Unix(0, int64(ended)).UTC()
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
// not nil, when d was never scored; the error reports a failing server.
func (s *Store) CurrentScores(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s, selectCurrentScores, string(d))
	if err != nil {
		return nil, fmt.Errorf("reading current scores of %s: %w", d, err)
	}
	return scores, nil
}

// ScoreHistory returns every evaluation of artifact d, ordered by evaluation time, then
// evaluation ID, then environment. It is empty, not nil, when d was never scored; the error
// reports a failing server.
func (s *Store) ScoreHistory(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s, selectScoreHistory, string(d))
	if err != nil {
		return nil, fmt.Errorf("reading score history of %s: %w", d, err)
	}
	return scores, nil
}

// queryJSON runs query and decodes the one JSON column of each row into a T. The result is
// empty, not nil, when there are no rows.
func queryJSON[T any](ctx context.Context, s *Store, query string, args ...any) ([]T, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return nil, fmt.Errorf("decoding %T: %w", v, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
