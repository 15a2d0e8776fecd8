package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	// coverageQuery counts, per level, the artifacts deployed where the filter (%s) matches and
	// not ended: each at the highest current level over its matching environments (0 when
	// unscored), verified or with gaps when any current score there is. It reads the placements
	// (one row per artifact and (org, team, environment) group of its deployments, kept on
	// write: see refresh), reduced with FINAL, and no other table.
	// coverageQuery counts, per level, the artifacts running where {where} matches: each at its
	// highest level there, verified, with open gaps ({open}: gaps no active exception accepts)
	// or with gaps all accepted when any of its placements there is.
	coverageQuery = `
		SELECT level, count(), sum(verified), sum(a_open), sum(a_gapped AND NOT a_open)
		FROM (
			SELECT digest, max(p_level) AS level, max(p_verified) AS verified, max(p_open) AS a_open,
				max(p_gapped) AS a_gapped
			FROM (
				SELECT digest, level AS p_level, verified AS p_verified, {open} AS p_open, with_gaps AS p_gapped
				FROM placements FINAL
				WHERE running = 1 AND {where}
			)
			GROUP BY digest
		)
		GROUP BY level`

	// The readers of artifact details take a set of digests (a GroupSet), so that one query
	// serves one artifact or a batch of them.
	selectArtifacts = `SELECT digest, repository, errors, version FROM artifacts FINAL
		WHERE digest IN ? ORDER BY digest`

	// selectEvidence reads the documents of given collections: (digest, version) pairs.
	selectEvidence = `SELECT digest, document FROM evidence FINAL
		WHERE (digest, version) IN (?) ORDER BY digest, position`

	selectDeployments = `
		SELECT digest, repository, org, team, environment, cluster, namespace, workload, version, ended_ns
		FROM deployments FINAL WHERE digest IN ?
		ORDER BY digest, environment, cluster, namespace, workload, org, repository`

	selectCurrentScores = `
		SELECT digest, score FROM scores FINAL WHERE digest IN ?
		ORDER BY digest, environment, version DESC, evaluation_id DESC
		LIMIT 1 BY digest, environment`

	selectScoreHistory = `
		SELECT digest, score FROM scores FINAL WHERE digest = ?
		ORDER BY version, evaluation_id, environment`
)

// Coverage counts the artifacts deployed where q matches, by their highest current level in the
// matching environments; deployments whose latest observation ended them do not count. It
// returns an error only when the server fails.
func (s *Store) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	acc, err := s.activeExceptions(ctx, q.Org, at)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	conds := []string{"1"}
	args := acc.args
	for _, f := range []struct{ column, value string }{
		{"org", q.Org}, {"team", q.Team}, {"environment", q.Environment},
	} {
		if f.value != "" {
			conds = append(conds, f.column+" = @q_"+f.column)
			args = append(args, chgo.Named("q_"+f.column, f.value))
		}
	}
	c := store.Coverage{ByLevel: map[string]int{}}
	for l := evidence.Level(0); l <= 3; l++ {
		c.ByLevel[l.String()] = 0
	}
	query := strings.NewReplacer("{open}", acc.open(), "{where}", strings.Join(conds, " AND ")).Replace(coverageQuery)
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level uint8
		var n, verified, withGaps, accepted uint64
		if err := rows.Scan(&level, &n, &verified, &withGaps, &accepted); err != nil {
			return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
		}
		c.Total += int(n)
		c.ByLevel[evidence.Level(level).String()] += int(n)
		c.VerifiedProvenance += int(verified)
		c.WithGaps += int(withGaps)
		c.Accepted += int(accepted)
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
	details, err := s.details(ctx, []evidence.Digest{d})
	if err != nil {
		return store.ArtifactDetail{}, err
	}
	if len(details) == 0 {
		return store.ArtifactDetail{}, fmt.Errorf("reading artifact %s: %w", d, store.ErrNotFound)
	}
	return details[0], nil
}

// digestSet is ds as the set of an IN clause.
func digestSet(ds []evidence.Digest) chgo.GroupSet {
	set := chgo.GroupSet{Value: make([]any, len(ds))}
	for i, d := range ds {
		set.Value[i] = string(d)
	}
	return set
}

// details returns the details of the artifacts ds that were written, ordered by digest.
func (s *Store) details(ctx context.Context, ds []evidence.Digest) ([]store.ArtifactDetail, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	set := digestSet(ds)
	details, collections, err := s.artifacts(ctx, set)
	if err != nil || len(details) == 0 {
		return details, err
	}
	docs, err := queryJSON[evidence.Evidence](ctx, s, selectEvidence, collections)
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	scores, err := queryJSON[evidence.Score](ctx, s, selectCurrentScores, set)
	if err != nil {
		return nil, fmt.Errorf("reading current scores: %w", err)
	}
	deps, err := s.deployments(ctx, set)
	if err != nil {
		return nil, err
	}
	for i := range details {
		d := details[i].Image.Digest
		details[i].Evidence = nonNil(docs[d])
		details[i].Scores = nonNil(scores[d])
		details[i].Deployments = nonNil(deps[d])
	}
	return details, nil
}

// artifacts reads the artifact rows of the digests in set, ordered by digest, and the (digest,
// version) pair of each one's latest collection.
func (s *Store) artifacts(ctx context.Context, set chgo.GroupSet) ([]store.ArtifactDetail, []chgo.GroupSet, error) {
	rows, err := s.conn.Query(ctx, selectArtifacts, set)
	if err != nil {
		return nil, nil, fmt.Errorf("reading artifacts: %w", err)
	}
	defer rows.Close()
	var details []store.ArtifactDetail
	var collections []chgo.GroupSet
	for rows.Next() {
		var a store.ArtifactDetail
		var digest string
		var version uint64
		if err := rows.Scan(&digest, &a.Image.Repository, &a.Errors, &version); err != nil {
			return nil, nil, fmt.Errorf("reading artifacts: %w", err)
		}
		a.Image.Digest = evidence.Digest(digest)
		a.CollectedAt = time.Unix(0, int64(version)).UTC()
		if len(a.Errors) == 0 {
			a.Errors = nil
		}
		details = append(details, a)
		collections = append(collections, chgo.GroupSet{Value: []any{digest, version}})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading artifacts: %w", err)
	}
	return details, collections, nil
}

// deployments reads the deployments of the digests in set, by digest.
func (s *Store) deployments(ctx context.Context, set chgo.GroupSet) (map[evidence.Digest][]evidence.Deployment, error) {
	rows, err := s.conn.Query(ctx, selectDeployments, set)
	if err != nil {
		return nil, fmt.Errorf("reading deployments: %w", err)
	}
	defer rows.Close()
	deps := map[evidence.Digest][]evidence.Deployment{}
	for rows.Next() {
		var dep evidence.Deployment
		var digest string
		var version, ended uint64
		if err := rows.Scan(&digest, &dep.Image.Repository, &dep.Org, &dep.Team, &dep.Environment, &dep.Cluster,
			&dep.Namespace, &dep.Workload, &version, &ended); err != nil {
			return nil, fmt.Errorf("reading deployments: %w", err)
		}
		dep.Image.Digest = evidence.Digest(digest)
		dep.ObservedAt = time.Unix(0, int64(version)).UTC()
		if ended != 0 {
			at := time.Unix(0, int64(ended)).UTC()
			dep.EndedAt = &at
		}
		deps[dep.Image.Digest] = append(deps[dep.Image.Digest], dep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading deployments: %w", err)
	}
	return deps, nil
}

// CurrentScores returns the current score of artifact d in each environment, ordered by
// environment: the latest evaluation, ties broken by the greatest evaluation ID. It is empty,
// not nil, when d was never scored; the error reports a failing server.
func (s *Store) CurrentScores(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s, selectCurrentScores, digestSet([]evidence.Digest{d}))
	if err != nil {
		return nil, fmt.Errorf("reading current scores of %s: %w", d, err)
	}
	return nonNil(scores[d]), nil
}

// ScoreHistory returns every evaluation of artifact d, ordered by evaluation time, then
// evaluation ID, then environment. It is empty, not nil, when d was never scored; the error
// reports a failing server.
func (s *Store) ScoreHistory(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s, selectScoreHistory, string(d))
	if err != nil {
		return nil, fmt.Errorf("reading score history of %s: %w", d, err)
	}
	return nonNil(scores[d]), nil
}

// queryJSON runs query, whose rows are a digest and a JSON document, with args and decodes each
// document into a T, grouped by digest in the order of the rows.
func queryJSON[T any](ctx context.Context, s *Store, query string, args ...any) (map[evidence.Digest][]T, error) {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[evidence.Digest][]T{}
	for rows.Next() {
		var digest, doc string
		if err := rows.Scan(&digest, &doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			return nil, fmt.Errorf("decoding %T of %s: %w", v, digest, err)
		}
		out[evidence.Digest(digest)] = append(out[evidence.Digest(digest)], v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// nonNil returns s, or an empty slice when s is nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
