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
	// coverageCellQuery reads a cell of the coverage cube kept on write (coverage_live, digest
	// ''; see refresh): the sum of its rows, through the primary key. It counts gaps accepted
	// or not as with_gaps.
	coverageCellQuery = `
		SELECT sum(total), sum(l0), sum(l1), sum(l2), sum(l3), sum(verified), sum(with_gaps)
		FROM coverage_live
		WHERE digest = '' AND dims = @dims AND org = @org AND team = @team AND environment = @env`

	// acceptedQuery counts the artifacts running where {where} matches that have gaps there,
	// every one accepted by an active exception ({open}: gaps no exception accepts), among the
	// artifacts with a placement there holding a gap an exception accepts ({covered}; found
	// without FINAL, as a stale row only adds a candidate), whose placements are read with
	// FINAL through the primary key.
	acceptedQuery = `
		SELECT count()
		FROM (
			SELECT digest, max(p_open) AS a_open, max(with_gaps) AS a_gapped
			FROM (
				SELECT digest, {open} AS p_open, with_gaps
				FROM placements FINAL
				WHERE running = 1 AND {where} AND digest IN (
					SELECT digest FROM placements WHERE running = 1 AND with_gaps = 1 AND {where} AND {covered})
			)
			GROUP BY digest
		)
		WHERE a_gapped = 1 AND a_open = 0`

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
// matching environments; deployments whose latest observation ended them do not count. It reads
// the cell of the coverage cube kept on write for q's filters, and, when exceptions are active,
// the placements of the artifacts with gaps they accept. It returns an error only when the
// server fails.
func (s *Store) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	c := store.Coverage{ByLevel: map[string]int{}}
	for l := evidence.Level(0); l <= 3; l++ {
		c.ByLevel[l.String()] = 0
	}
	cell := coverageCell{org: store.RollupAll, team: store.RollupAll, environment: store.RollupAll}
	conds := []string{"1"}
	var args []any
	for _, f := range []struct {
		column, value string
		label         *string
		bit           uint8
	}{
		{"org", q.Org, &cell.org, 1}, {"team", q.Team, &cell.team, 2}, {"environment", q.Environment, &cell.environment, 4},
	} {
		if f.value == store.RollupAll {
			return c, nil // not a label: nothing is deployed there
		}
		if f.value != "" {
			cell.dims |= f.bit
			*f.label = f.value
			conds = append(conds, f.column+" = @q_"+f.column)
			args = append(args, chgo.Named("q_"+f.column, f.value))
		}
	}
	var n coverageCount
	err := s.conn.QueryRow(ctx, coverageCellQuery, chgo.Named("dims", cell.dims), chgo.Named("org", cell.org),
		chgo.Named("team", cell.team), chgo.Named("env", cell.environment)).
		Scan(&n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6])
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	c.Total = int(n[0])
	for l := range 4 {
		c.ByLevel[evidence.Level(l).String()] = int(n[1+l])
	}
	c.VerifiedProvenance, c.WithGaps = int(n[5]), int(n[6])

	// Gaps that active exceptions accept: the artifacts whose gaps all are count as accepted
	// rather than with gaps.
	if c.WithGaps == 0 {
		return c, nil
	}
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	acc, err := s.activeExceptions(ctx, q.Org, at)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	if len(acc.covered) == 0 {
		return c, nil
	}
	query := strings.NewReplacer("{open}", acc.open(), "{covered}", acc.anyCovered(),
		"{where}", strings.Join(conds, " AND ")).Replace(acceptedQuery)
	var accepted uint64
	if err := s.conn.QueryRow(ctx, query, append(args, acc.args...)...).Scan(&accepted); err != nil {
		return store.Coverage{}, fmt.Errorf("reading accepted gaps: %w", err)
	}
	c.Accepted = int(accepted)
	c.WithGaps -= c.Accepted
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
