package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	// selectCoverage counts, per level, the artifacts deployed where the query matches and not
	// ended: each at the highest current level over its matching environments (0 when unscored),
	// verified, with open gaps ({open}: gaps no active exception accepts) or with gaps all
	// accepted when any current score there is.
	selectCoverage = `
		WITH deployed AS (
			SELECT DISTINCT digest, environment, org, team, repository FROM deployments
			WHERE ended_at IS NULL
				AND (?1 = '' OR org = ?1) AND (?2 = '' OR team = ?2) AND (?3 = '' OR environment = ?3)
		), per_artifact AS (
			SELECT d.digest,
				coalesce(max(c.level), 0) AS level,
				coalesce(max(c.verified_provenance), 0) AS verified,
				coalesce(max({open}), 0) AS open_gaps,
				coalesce(max(c.gap_count > 0), 0) AS gapped
			FROM deployed AS d
			LEFT JOIN scores_current AS c ON c.digest = d.digest AND c.environment = d.environment
			GROUP BY d.digest
		)
		SELECT level, count(*), sum(verified), sum(open_gaps), sum(gapped AND NOT open_gaps)
		FROM per_artifact GROUP BY level`

	// The readers of artifact details take a JSON array of digests (?1), so that one query
	// serves one artifact or a batch of them.
	selectArtifacts = `SELECT digest, repository, collected_at, errors FROM artifacts
		WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest`

	selectEvidence = `SELECT digest, document FROM evidence
		WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest, position`

	selectDeployments = `
		SELECT digest, repository, org, team, environment, cluster, namespace, workload, last_seen, ended_at
		FROM deployments WHERE digest IN (SELECT value FROM json_each(?1))
		ORDER BY digest, environment, cluster, namespace, workload, org, repository`

	selectCurrentScores = `SELECT digest, score FROM scores_current
		WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest, environment`

	selectScoreHistory = `SELECT digest, score FROM scores WHERE digest = ? ORDER BY evaluated_at, evaluation_id, environment`
)

// Coverage counts the artifacts deployed where q matches, by their highest current level in the
// matching environments; deployments whose latest observation ended them do not count. It
// returns an error only when the database fails.
func (s *Store) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	c := store.Coverage{ByLevel: map[string]int{}}
	for l := evidence.Level(0); l <= 3; l++ {
		c.ByLevel[l.String()] = 0
	}
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	acc, err := s.activeExceptions(ctx, q.Org, at, 4)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, strings.Replace(selectCoverage, "{open}", acc.open(), 1),
		append([]any{q.Org, q.Team, q.Environment}, acc.args...)...)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level evidence.Level
		var n, verified, withGaps, accepted int
		if err := rows.Scan(&level, &n, &verified, &withGaps, &accepted); err != nil {
			return store.Coverage{}, fmt.Errorf("reading coverage: %w", err)
		}
		c.Total += n
		c.ByLevel[level.String()] += n
		c.VerifiedProvenance += verified
		c.WithGaps += withGaps
		c.Accepted += accepted
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

// details returns the details of the artifacts ds that were written, ordered by digest.
func (s *Store) details(ctx context.Context, ds []evidence.Digest) ([]store.ArtifactDetail, error) {
	// Bound as text: the JSON functions of SQLite take a BLOB for binary JSONB.
	b, err := json.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("reading artifacts: encoding digests: %w", err)
	}
	set := string(b)
	details, err := s.artifacts(ctx, set)
	if err != nil || len(details) == 0 {
		return details, err
	}
	docs, err := queryJSON[evidence.Evidence](ctx, s.stmts[selectEvidence], set)
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	scores, err := queryJSON[evidence.Score](ctx, s.stmts[selectCurrentScores], set)
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

// artifacts reads the artifact rows of the digests in set (a JSON array), ordered by digest.
func (s *Store) artifacts(ctx context.Context, set string) ([]store.ArtifactDetail, error) {
	rows, err := s.stmts[selectArtifacts].QueryContext(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("reading artifacts: %w", err)
	}
	defer rows.Close()
	var details []store.ArtifactDetail
	for rows.Next() {
		var a store.ArtifactDetail
		var collectedAt int64
		var errs string
		if err := rows.Scan(&a.Image.Digest, &a.Image.Repository, &collectedAt, &errs); err != nil {
			return nil, fmt.Errorf("reading artifacts: %w", err)
		}
		a.CollectedAt = time.Unix(0, collectedAt).UTC()
		if err := json.Unmarshal([]byte(errs), &a.Errors); err != nil {
			return nil, fmt.Errorf("reading artifact %s: decoding errors: %w", a.Image.Digest, err)
		}
		if len(a.Errors) == 0 {
			a.Errors = nil
		}
		details = append(details, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading artifacts: %w", err)
	}
	return details, nil
}

// deployments reads the deployments of the digests in set (a JSON array), by digest.
func (s *Store) deployments(ctx context.Context, set string) (map[evidence.Digest][]evidence.Deployment, error) {
	rows, err := s.stmts[selectDeployments].QueryContext(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("reading deployments: %w", err)
	}
	defer rows.Close()
	deps := map[evidence.Digest][]evidence.Deployment{}
	for rows.Next() {
		var dep evidence.Deployment
		var observed int64
		var ended sql.NullInt64
		if err := rows.Scan(&dep.Image.Digest, &dep.Image.Repository, &dep.Org, &dep.Team, &dep.Environment,
			&dep.Cluster, &dep.Namespace, &dep.Workload, &observed, &ended); err != nil {
			return nil, fmt.Errorf("reading deployments: %w", err)
		}
		dep.ObservedAt = time.Unix(0, observed).UTC()
		if ended.Valid {
			at := time.Unix(0, ended.Int64).UTC()
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
// not nil, when d was never scored; the error reports a failing database.
func (s *Store) CurrentScores(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	set, err := json.Marshal([]evidence.Digest{d})
	if err != nil {
		return nil, fmt.Errorf("reading current scores of %s: encoding digest: %w", d, err)
	}
	scores, err := queryJSON[evidence.Score](ctx, s.stmts[selectCurrentScores], string(set))
	if err != nil {
		return nil, fmt.Errorf("reading current scores of %s: %w", d, err)
	}
	return nonNil(scores[d]), nil
}

// ScoreHistory returns every evaluation of artifact d, ordered by evaluation time, then
// evaluation ID, then environment. It is empty, not nil, when d was never scored; the error
// reports a failing database.
func (s *Store) ScoreHistory(ctx context.Context, d evidence.Digest) ([]evidence.Score, error) {
	scores, err := queryJSON[evidence.Score](ctx, s.stmts[selectScoreHistory], string(d))
	if err != nil {
		return nil, fmt.Errorf("reading score history of %s: %w", d, err)
	}
	return nonNil(scores[d]), nil
}

// queryJSON runs query, whose rows are a digest and a JSON document, with args and decodes each
// document into a T, grouped by digest in the order of the rows.
func queryJSON[T any](ctx context.Context, query *sql.Stmt, args ...any) (map[evidence.Digest][]T, error) {
	rows, err := query.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[evidence.Digest][]T{}
	for rows.Next() {
		var d evidence.Digest
		var doc []byte
		if err := rows.Scan(&d, &doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("decoding %T of %s: %w", v, d, err)
		}
		out[d] = append(out[d], v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
