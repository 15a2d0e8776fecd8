package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	selectArtifactVersion = `SELECT collected_at FROM artifacts WHERE digest = ?`

	upsertArtifact = `INSERT INTO artifacts
		(digest, repository, collected_at, errors, evidence_count, verified_provenance)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET
			repository = excluded.repository,
			collected_at = excluded.collected_at,
			errors = excluded.errors,
			evidence_count = excluded.evidence_count,
			verified_provenance = excluded.verified_provenance`

	deleteEvidence = `DELETE FROM evidence WHERE digest = ?`

	insertEvidence = `INSERT INTO evidence
		(digest, position, evidence_id, kind, source, predicate_type, subject_match, signed, verified, builder_id, document)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

	// upsertDeployment keeps the latest observation of a key, whether it ended the deployment
	// included, and the earliest first_seen.
	upsertDeployment = `INSERT INTO deployments
		(deployment_key, digest, repository, org, team, environment, cluster, namespace, workload, first_seen, last_seen, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (deployment_key) DO UPDATE SET
			repository = excluded.repository,
			org = excluded.org,
			team = excluded.team,
			environment = excluded.environment,
			cluster = excluded.cluster,
			namespace = excluded.namespace,
			workload = excluded.workload,
			first_seen = min(deployments.first_seen, excluded.first_seen),
			last_seen = excluded.last_seen,
			ended_at = excluded.ended_at
		WHERE excluded.last_seen >= deployments.last_seen`

	// lowerFirstSeen records an observation older than the one kept.
	lowerFirstSeen = `UPDATE deployments SET first_seen = ? WHERE deployment_key = ? AND first_seen > ?`

	// upsertScore replaces an evaluation written again, unless the row kept is newer.
	upsertScore = `INSERT INTO scores
		(digest, environment, evaluation_id, evaluated_at, repository, org, team, level, risk,
		 verified_provenance, gap_codes, gap_count, policy_version, score)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest, environment, evaluation_id) DO UPDATE SET
			evaluated_at = excluded.evaluated_at,
			repository = excluded.repository,
			org = excluded.org,
			team = excluded.team,
			level = excluded.level,
			risk = excluded.risk,
			verified_provenance = excluded.verified_provenance,
			gap_codes = excluded.gap_codes,
			gap_count = excluded.gap_count,
			policy_version = excluded.policy_version,
			score = excluded.score
		WHERE excluded.evaluated_at >= scores.evaluated_at`

	// selectComponentDocument finds whether a document's components are stored.
	selectComponentDocument = `SELECT count(*) FROM sbom_components WHERE sbom = ?`

	insertComponent = `INSERT OR IGNORE INTO sbom_components (sbom, name, version, purl, position, type, licenses)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// WriteEvaluation stores ev in one transaction: the components of each SBOM document not stored
// yet, the artifact's evidence set unless a newer collection is already stored, each
// deployment's observation unless a newer one is, and each score. It is idempotent. It returns
// an error wrapping evidence.ErrInvalid when ev is invalid or holds a time before 1970 or after
// 2105, and writes nothing then.
func (s *Store) WriteEvaluation(ctx context.Context, ev store.Evaluation) error {
	return s.WriteEvaluations(ctx, []store.Evaluation{ev})
}

// WriteEvaluations stores evs as WriteEvaluation stores each, in order and in one transaction
// (one sync to disk for all of them). When one is invalid, nothing is written.
func (s *Store) WriteEvaluations(ctx context.Context, evs []store.Evaluation) (err error) {
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("writing evaluation: %w", err)
		}
	}
	what := fmt.Sprintf("evaluations of %d artifacts", len(evs))
	if len(evs) == 1 {
		what = "evaluation of " + evs[0].Evidence.Image.String()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := writer{tx: tx, stmts: s.stmts}
	for _, ev := range evs {
		if err := w.evaluation(ctx, ev); err != nil {
			return fmt.Errorf("writing evaluation of %s: %w", ev.Evidence.Image, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing %s: committing: %w", what, err)
	}
	return nil
}

// evaluation writes ev in w's transaction.
func (w writer) evaluation(ctx context.Context, ev store.Evaluation) error {
	if err := w.components(ctx, ev.Components); err != nil {
		return err
	}
	if err := w.artifact(ctx, ev.Evidence); err != nil {
		return err
	}
	for _, d := range ev.Deployments {
		if err := w.deployment(ctx, d); err != nil {
			return err
		}
	}
	for _, sc := range ev.Scores {
		if err := w.score(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}

// writer runs the prepared statements of a store in one transaction.
type writer struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (w writer) exec(ctx context.Context, query string, args ...any) error {
	_, err := w.tx.StmtContext(ctx, w.stmts[query]).ExecContext(ctx, args...)
	return err
}

func (w writer) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return w.tx.StmtContext(ctx, w.stmts[query]).QueryRowContext(ctx, args...)
}

// artifact replaces the artifact's evidence set with a, unless a newer one is stored.
func (w writer) artifact(ctx context.Context, a evidence.ArtifactEvidence) error {
	version := a.CollectedAt.UnixNano()
	var stored int64
	switch err := w.queryRow(ctx, selectArtifactVersion, string(a.Image.Digest)).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("reading artifact version: %w", err)
	case stored > version:
		return nil // a newer collection is stored; this one is history
	}
	errs, err := json.Marshal(nonNil(a.Errors))
	if err != nil {
		return fmt.Errorf("encoding collection errors: %w", err)
	}
	if err := w.exec(ctx, upsertArtifact, string(a.Image.Digest), a.Image.Repository, version,
		string(errs), len(a.Evidence), a.HasVerifiedProvenance()); err != nil {
		return fmt.Errorf("writing artifact: %w", err)
	}
	if err := w.exec(ctx, deleteEvidence, string(a.Image.Digest)); err != nil {
		return fmt.Errorf("replacing evidence: %w", err)
	}
	for i, e := range a.Evidence {
		doc, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding evidence %s: %w", e.ID, err)
		}
		builder := ""
		if e.Provenance != nil {
			builder = e.Provenance.BuilderID
		}
		if err := w.exec(ctx, insertEvidence, string(a.Image.Digest), i, string(e.ID), string(e.Kind),
			e.Source, e.PredicateType, e.SubjectMatch, e.Signed, e.Verification.Verified, builder, string(doc)); err != nil {
			return fmt.Errorf("writing evidence %s: %w", e.ID, err)
		}
	}
	return nil
}

// components stores the components of each document of cs whose components are not stored yet.
func (w writer) components(ctx context.Context, cs []store.Component) error {
	stored := map[evidence.Digest]bool{}
	position := map[evidence.Digest]int{}
	for _, c := range store.UniqueComponents(cs) {
		done, seen := stored[c.SBOM]
		if !seen {
			var n int
			if err := w.queryRow(ctx, selectComponentDocument, string(c.SBOM)).Scan(&n); err != nil {
				return fmt.Errorf("reading components of %s: %w", c.SBOM, err)
			}
			done = n > 0
			stored[c.SBOM] = done
		}
		if done {
			continue
		}
		licenses, err := json.Marshal(nonNil(c.Licenses))
		if err != nil {
			return fmt.Errorf("encoding licenses of component %q: %w", c.Name, err)
		}
		if err := w.exec(ctx, insertComponent, string(c.SBOM), c.Name, c.Version, c.PURL, position[c.SBOM], c.Type,
			string(licenses)); err != nil {
			return fmt.Errorf("writing component %q of %s: %w", c.Name, c.SBOM, err)
		}
		position[c.SBOM]++
	}
	return nil
}

// deployment records an observation: the newest one's fields and end (NULL when it runs), the
// earliest first_seen.
func (w writer) deployment(ctx context.Context, d evidence.Deployment) error {
	key, at := d.Key(), d.ObservedAt.UnixNano()
	var ended sql.NullInt64
	if d.EndedAt != nil {
		ended = sql.NullInt64{Int64: d.EndedAt.UnixNano(), Valid: true}
	}
	if err := w.exec(ctx, upsertDeployment, key, string(d.Image.Digest), d.Image.Repository, d.Org, d.Team,
		d.Environment, d.Cluster, d.Namespace, d.Workload, at, at, ended); err != nil {
		return fmt.Errorf("writing deployment %s: %w", key, err)
	}
	if err := w.exec(ctx, lowerFirstSeen, at, key, at); err != nil {
		return fmt.Errorf("writing deployment %s: %w", key, err)
	}
	return nil
}

// score records an evaluation, replacing the same evaluation unless the stored one is newer.
func (w writer) score(ctx context.Context, sc evidence.Score) error {
	sc.EvaluatedAt = sc.EvaluatedAt.UTC()
	doc, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("encoding score %s: %w", sc.EvaluationID, err)
	}
	codes, err := json.Marshal(sc.GapCodes())
	if err != nil {
		return fmt.Errorf("encoding gap codes of score %s: %w", sc.EvaluationID, err)
	}
	if err := w.exec(ctx, upsertScore, string(sc.Image.Digest), sc.Environment, sc.EvaluationID,
		sc.EvaluatedAt.UnixNano(), sc.Image.Repository, sc.Org, sc.Team, int(sc.Level), sc.Risk,
		sc.VerifiedProvenance, string(codes), len(sc.Gaps), sc.PolicyVersion, string(doc)); err != nil {
		return fmt.Errorf("writing score %s in %s: %w", sc.EvaluationID, sc.Environment, err)
	}
	return nil
}

// nonNil returns s, or an empty slice when s is nil, so that it encodes as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
