package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

const (
	insertEvidence = `INSERT INTO evidence (digest, version, position, collected_at, evidence_id, kind, source,
		media_type, predicate_type, subject_match, signed, verified, signer_issuer, signer_identity, builder_id,
		source_repository, malformed, document)`

	insertArtifact = `INSERT INTO artifacts (digest, repository, collected_at, errors, evidence_count,
		verified_provenance, version)`

	insertDeployment = `INSERT INTO deployments (digest, deployment_key, repository, org, team, environment,
		cluster, namespace, workload, first_seen, last_seen, version, ended_at, ended_ns)`

	insertScore = `INSERT INTO scores (digest, environment, evaluation_id, evaluated_at, repository, org, team,
		level, risk, verified_provenance, gap_codes, policy_version, score, version)`

	insertComponent = `INSERT INTO sbom_components (name, version, purl, sbom, position, type, licenses)`

	insertComponentByPURL = `INSERT INTO sbom_components_by_purl (purl, name, version, sbom, position, type, licenses)`

	insertSBOMDocument = `INSERT INTO sbom_documents (sbom, components, written_at)`

	selectSBOMDocuments = `SELECT DISTINCT sbom FROM sbom_documents WHERE sbom IN ?`

	insertArtifactDocument = `INSERT INTO artifact_documents (document, digest, version)`

	insertHead = `INSERT INTO scores_latest (digest, environment, evaluation_id, evaluated_ns, repository, org, team,
		level, risk, verified_provenance, gap_codes, gap_severities, gap_messages, gap_rules, version)`

	// selectHeads reads the current score of each environment of some digests: the row with
	// the greatest version.
	selectHeads = `SELECT digest, environment,
		argMax(evaluation_id, version), argMax(evaluated_ns, version), argMax(repository, version),
		argMax(org, version), argMax(team, version), argMax(level, version), argMax(risk, version),
		argMax(verified_provenance, version), argMax(gap_codes, version), argMax(gap_severities, version),
		argMax(gap_messages, version), argMax(gap_rules, version), max(version)
		FROM scores_latest WHERE digest IN ? GROUP BY digest, environment`

	// selectStoredDeployments reads the newest stored row of each deployment key of some
	// digests, and the earliest first_seen of any of its rows.
	selectStoredDeployments = `SELECT digest, deployment_key,
		argMax(repository, version), argMax(org, version), argMax(team, version),
		argMax(environment, version), argMax(cluster, version), argMax(namespace, version),
		argMax(workload, version), min(first_seen), max(version), argMax(ended_ns, version)
		FROM deployments WHERE digest IN ? GROUP BY digest, deployment_key`
)

// WriteEvaluation stores ev: the components of the SBOM documents not stored yet (then the rows
// saying they are), the collection's documents and which documents it holds, then the artifact
// row that points at them (it stays on a newer collection when one is stored), then each
// deployment's merged state, then the scores, then the current score of each environment when
// a score is newer than it, then the artifact's placements and gap feed (see refresh). Each step
// is an idempotent insert, so an evaluation interrupted half-way is completed by writing it
// again. It returns an error wrapping evidence.ErrInvalid when ev is invalid or holds a time
// before 1970 or after 2105, and writes nothing then.
func (s *Store) WriteEvaluation(ctx context.Context, ev store.Evaluation) error {
	return s.WriteEvaluations(ctx, []store.Evaluation{ev})
}

// WriteEvaluations stores evs as WriteEvaluation stores each, with one insert per table for
// all of them: ClickHouse makes a part for every insert, which costs far more than its rows.
// Evaluations of the same artifact are written one after the other, in order. When one is
// invalid, nothing is written.
func (s *Store) WriteEvaluations(ctx context.Context, evs []store.Evaluation) error {
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("writing evaluation: %w", err)
		}
	}
	for len(evs) > 0 {
		// A round holds each artifact once: its current scores and deployments are merged with
		// what is stored before the round.
		var round, later []store.Evaluation
		seen := map[evidence.Digest]bool{}
		for _, ev := range evs {
			if d := ev.Evidence.Image.Digest; seen[d] {
				later = append(later, ev)
			} else {
				seen[d] = true
				round = append(round, ev)
			}
		}
		if err := s.writeRound(ctx, round); err != nil {
			return err
		}
		evs = later
	}
	return nil
}

// writeRound writes evaluations of distinct artifacts.
func (s *Store) writeRound(ctx context.Context, evs []store.Evaluation) error {
	what := "evaluations of " + strconv.Itoa(len(evs)) + " artifacts"
	if len(evs) == 1 {
		what = evs[0].Evidence.Image.String()
	}
	var ds []evidence.Digest
	for _, ev := range evs {
		ds = append(ds, ev.Evidence.Image.Digest)
	}
	storedDeps, err := s.storedDeployments(ctx, ds)
	if err != nil {
		return fmt.Errorf("writing deployments of %s: %w", what, err)
	}
	storedHeads, err := s.storedHeads(ctx, ds)
	if err != nil {
		return fmt.Errorf("writing current scores of %s: %w", what, err)
	}
	var comps []store.Component
	var evRows, docRows, artRows, depRows, scRows, headRows [][]any
	var refresh []evidence.Digest
	for _, ev := range evs {
		img := ev.Evidence.Image
		comps = append(comps, ev.Components...)
		rows, err := evidenceRows(ev.Evidence)
		if err != nil {
			return fmt.Errorf("writing evaluation of %s: %w", img, err)
		}
		evRows = append(evRows, rows...)
		docRows = append(docRows, artifactDocumentRows(ev.Evidence)...)
		artRows = append(artRows, artifactRow(ev.Evidence))
		depRows = append(depRows, deploymentRows(img.Digest, ev.Deployments, storedDeps[string(img.Digest)])...)
		scores, err := scoreRows(ev.Scores)
		if err != nil {
			return fmt.Errorf("writing evaluation of %s: %w", img, err)
		}
		scRows = append(scRows, scores...)
		headRows = append(headRows, headRowsOf(img.Digest, ev.Scores, storedHeads[string(img.Digest)])...)
		// Always, even when nothing changed: a write interrupted before its refresh is
		// repaired by its re-delivery.
		if len(ev.Deployments) > 0 || len(ev.Scores) > 0 {
			refresh = append(refresh, img.Digest)
		}
	}
	if err := s.writeComponents(ctx, comps); err != nil {
		return fmt.Errorf("writing components of %s: %w", what, err)
	}
	for _, step := range []struct {
		what  string
		query string
		rows  [][]any
	}{
		{"evidence", insertEvidence, evRows},
		{"documents", insertArtifactDocument, docRows},
		{"artifact rows", insertArtifact, artRows},
		{"deployments", insertDeployment, depRows},
		{"scores", insertScore, scRows},
		{"current scores", insertHead, headRows},
	} {
		if err := s.insert(ctx, step.query, step.rows); err != nil {
			return fmt.Errorf("writing %s of %s: %w", step.what, what, err)
		}
	}
	if err := s.refresh(ctx, refresh); err != nil {
		return fmt.Errorf("writing evaluation of %s: %w", what, err)
	}
	return nil
}

// writeComponents writes the components of each document of cs whose components are not stored
// yet, in both copies, then records each such document as complete.
func (s *Store) writeComponents(ctx context.Context, cs []store.Component) error {
	cs = store.UniqueComponents(cs)
	if len(cs) == 0 {
		return nil
	}
	var docs []evidence.Digest
	for _, c := range cs {
		if !slices.Contains(docs, c.SBOM) {
			docs = append(docs, c.SBOM)
		}
	}
	stored, err := s.storedDocuments(ctx, docs)
	if err != nil {
		return err
	}
	var byName, byPURL [][]any
	count := map[evidence.Digest]uint32{}
	for _, c := range cs {
		if stored[c.SBOM] {
			continue
		}
		licenses := c.Licenses
		if licenses == nil {
			licenses = []string{}
		}
		pos := count[c.SBOM]
		count[c.SBOM]++
		byName = append(byName, []any{c.Name, c.Version, c.PURL, string(c.SBOM), pos, c.Type, licenses})
		if c.PURL != "" {
			byPURL = append(byPURL, []any{c.PURL, c.Name, c.Version, string(c.SBOM), pos, c.Type, licenses})
		}
	}
	if err := s.insert(ctx, insertComponent, byName); err != nil {
		return err
	}
	if err := s.insert(ctx, insertComponentByPURL, byPURL); err != nil {
		return err
	}
	var marks [][]any
	now := seconds(time.Now())
	for _, d := range docs {
		if !stored[d] {
			marks = append(marks, []any{string(d), count[d], now})
		}
	}
	return s.insert(ctx, insertSBOMDocument, marks)
}

// storedDocuments returns which of docs have their components stored.
func (s *Store) storedDocuments(ctx context.Context, docs []evidence.Digest) (map[evidence.Digest]bool, error) {
	rows, err := s.conn.Query(ctx, selectSBOMDocuments, digestSet(docs))
	if err != nil {
		return nil, fmt.Errorf("reading stored documents: %w", err)
	}
	defer rows.Close()
	stored := map[evidence.Digest]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("reading stored documents: %w", err)
		}
		stored[evidence.Digest(d)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stored documents: %w", err)
	}
	return stored, nil
}

// artifactDocumentRows says which documents a's collection holds.
func artifactDocumentRows(a evidence.ArtifactEvidence) [][]any {
	rows := make([][]any, 0, len(a.Evidence))
	for _, e := range a.Evidence {
		rows = append(rows, []any{string(e.ID), string(a.Image.Digest), uint64(a.CollectedAt.UnixNano())})
	}
	return rows
}

// head is one row of scores_latest: the current score of a digest in an environment.
type head struct {
	environment, evaluationID          string
	evaluatedNs                        uint64
	repository, org, team              string
	level, risk, verified              uint8
	codes, severities, messages, rules []string
	version                            uint64
}

func headOf(sc evidence.Score) head {
	h := head{
		environment: sc.Environment, evaluationID: sc.EvaluationID, evaluatedNs: uint64(sc.EvaluatedAt.UnixNano()),
		repository: sc.Image.Repository, org: sc.Org, team: sc.Team, level: uint8(sc.Level), risk: uint8(sc.Risk),
		verified: flag(sc.VerifiedProvenance),
		codes:    []string{}, severities: []string{}, messages: []string{}, rules: []string{},
	}
	for _, g := range sc.Gaps {
		h.codes = append(h.codes, g.Code)
		h.severities = append(h.severities, g.Severity)
		h.messages = append(h.messages, g.Message)
		h.rules = append(h.rules, g.Rule)
	}
	return h
}

// newer reports whether h is a later evaluation than o: by evaluation time, then evaluation ID.
func (h head) newer(o head) bool {
	if h.evaluatedNs != o.evaluatedNs {
		return h.evaluatedNs > o.evaluatedNs
	}
	return h.evaluationID > o.evaluationID
}

// sameAs reports whether h and o hold the same score, versions aside.
func (h head) sameAs(o head) bool {
	h.version, o.version = 0, 0
	return reflect.DeepEqual(h, o)
}

func (h head) values(d evidence.Digest) []any {
	return []any{string(d), h.environment, h.evaluationID, h.evaluatedNs, h.repository, h.org, h.team, h.level, h.risk,
		h.verified, h.codes, h.severities, h.messages, h.rules, h.version}
}

// headRowsOf returns the scores_latest rows that scores change: per environment, the newest of
// scores (the last of equals) when it is newer than the stored current score, or the same
// evaluation changed. Each row's version is greater than the stored row's, so it wins.
func headRowsOf(d evidence.Digest, scores []evidence.Score, stored map[string]head) [][]any {
	if len(scores) == 0 {
		return nil
	}
	latest := map[string]head{}
	var order []string
	for _, sc := range scores {
		h := headOf(sc)
		cur, seen := latest[h.environment]
		if !seen {
			order = append(order, h.environment)
		}
		if !seen || !cur.newer(h) {
			latest[h.environment] = h
		}
	}
	var rows [][]any
	for _, env := range order {
		h := latest[env]
		h.version = h.evaluatedNs
		if st, ok := stored[env]; ok {
			if st.newer(h) || h.sameAs(st) {
				continue
			}
			h.version = max(h.evaluatedNs, st.version+1)
		}
		rows = append(rows, h.values(d))
	}
	return rows
}

// storedHeads returns the current score of each environment of each of ds, by digest and
// environment.
func (s *Store) storedHeads(ctx context.Context, ds []evidence.Digest) (map[string]map[string]head, error) {
	rows, err := s.conn.Query(ctx, selectHeads, digestSet(ds))
	if err != nil {
		return nil, fmt.Errorf("reading current scores: %w", err)
	}
	defer rows.Close()
	stored := map[string]map[string]head{}
	for rows.Next() {
		var d string
		var h head
		if err := rows.Scan(&d, &h.environment, &h.evaluationID, &h.evaluatedNs, &h.repository, &h.org, &h.team, &h.level,
			&h.risk, &h.verified, &h.codes, &h.severities, &h.messages, &h.rules, &h.version); err != nil {
			return nil, fmt.Errorf("reading current scores: %w", err)
		}
		if stored[d] == nil {
			stored[d] = map[string]head{}
		}
		stored[d][h.environment] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading current scores: %w", err)
	}
	return stored, nil
}

// seconds is t as ClickHouse's DateTime keeps it.
func seconds(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func artifactRow(a evidence.ArtifactEvidence) []any {
	errs := a.Errors
	if errs == nil {
		errs = []string{}
	}
	return []any{string(a.Image.Digest), a.Image.Repository, seconds(a.CollectedAt), errs,
		uint32(len(a.Evidence)), flag(a.HasVerifiedProvenance()), uint64(a.CollectedAt.UnixNano())}
}

func evidenceRows(a evidence.ArtifactEvidence) ([][]any, error) {
	rows := make([][]any, 0, len(a.Evidence))
	for i, e := range a.Evidence {
		doc, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding evidence %s: %w", e.ID, err)
		}
		var issuer, identity, builder, sourceRepo string
		if sg := e.Verification.Signer; sg != nil {
			issuer, identity = sg.Issuer, sg.Identity
		}
		if p := e.Provenance; p != nil {
			builder, sourceRepo = p.BuilderID, p.SourceRepository
		}
		rows = append(rows, []any{string(a.Image.Digest), uint64(a.CollectedAt.UnixNano()), uint32(i),
			seconds(a.CollectedAt), string(e.ID), string(e.Kind), e.Source, e.MediaType, e.PredicateType,
			flag(e.SubjectMatch), flag(e.Signed), flag(e.Verification.Verified), issuer, identity, builder,
			sourceRepo, e.Malformed, string(doc)})
	}
	return rows, nil
}

// deploymentRow is one row of the deployments table.
type deploymentRow struct {
	key                                                              string
	repository, org, team, environment, cluster, namespace, workload string
	firstSeen                                                        time.Time
	version                                                          uint64
	// endedNs is when the deployment ended in Unix nanoseconds, 0 while it runs.
	endedNs uint64
}

func (r deploymentRow) values(d evidence.Digest) []any {
	return []any{string(d), r.key, r.repository, r.org, r.team, r.environment, r.cluster, r.namespace,
		r.workload, seconds(r.firstSeen), seconds(time.Unix(0, int64(r.version))), r.version,
		seconds(time.Unix(0, int64(r.endedNs))), r.endedNs}
}

// endedNs is when dep ended in Unix nanoseconds, or 0 when it runs (Evaluation.Validate rejects
// an end at the epoch itself).
func endedNs(dep evidence.Deployment) uint64 {
	if dep.EndedAt == nil {
		return 0
	}
	return uint64(dep.EndedAt.UnixNano())
}

// deploymentRows merges deps into the stored state of their keys: per key, the newest
// observation's fields and end, and the earliest first_seen. It returns the rows that change
// something.
func deploymentRows(d evidence.Digest, deps []evidence.Deployment, stored map[string]deploymentRow) [][]any {
	if len(deps) == 0 {
		return nil
	}
	merged := map[string]deploymentRow{}
	var order []string
	for _, dep := range deps {
		obs := deploymentRow{
			key: dep.Key(), repository: dep.Image.Repository, org: dep.Org, team: dep.Team,
			environment: dep.Environment, cluster: dep.Cluster, namespace: dep.Namespace, workload: dep.Workload,
			firstSeen: seconds(dep.ObservedAt), version: uint64(dep.ObservedAt.UnixNano()), endedNs: endedNs(dep),
		}
		cur, seen := merged[obs.key]
		if !seen {
			order = append(order, obs.key)
			if cur, seen = stored[obs.key]; !seen {
				merged[obs.key] = obs
				continue
			}
		}
		next := cur
		if obs.version >= cur.version {
			next = obs
		}
		if cur.firstSeen.Before(obs.firstSeen) {
			next.firstSeen = cur.firstSeen
		} else {
			next.firstSeen = obs.firstSeen
		}
		merged[obs.key] = next
	}
	var rows [][]any
	for _, key := range order {
		r := merged[key]
		// The key fixes every field but the team and the end: a row like the stored one changes
		// nothing.
		if st, ok := stored[key]; ok && st.version == r.version && st.team == r.team && st.endedNs == r.endedNs &&
			st.firstSeen.Equal(r.firstSeen) {
			continue
		}
		rows = append(rows, r.values(d))
	}
	return rows
}

// storedDeployments returns the stored state of the deployment keys of each of ds, by digest
// and key.
func (s *Store) storedDeployments(ctx context.Context, ds []evidence.Digest) (map[string]map[string]deploymentRow, error) {
	rows, err := s.conn.Query(ctx, selectStoredDeployments, digestSet(ds))
	if err != nil {
		return nil, fmt.Errorf("reading stored deployments: %w", err)
	}
	defer rows.Close()
	stored := map[string]map[string]deploymentRow{}
	for rows.Next() {
		var d string
		var r deploymentRow
		if err := rows.Scan(&d, &r.key, &r.repository, &r.org, &r.team, &r.environment, &r.cluster, &r.namespace,
			&r.workload, &r.firstSeen, &r.version, &r.endedNs); err != nil {
			return nil, fmt.Errorf("reading stored deployments: %w", err)
		}
		if stored[d] == nil {
			stored[d] = map[string]deploymentRow{}
		}
		stored[d][r.key] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stored deployments: %w", err)
	}
	return stored, nil
}

func scoreRows(scores []evidence.Score) ([][]any, error) {
	rows := make([][]any, 0, len(scores))
	for _, sc := range scores {
		sc.EvaluatedAt = sc.EvaluatedAt.UTC()
		doc, err := json.Marshal(sc)
		if err != nil {
			return nil, fmt.Errorf("encoding score %s: %w", sc.EvaluationID, err)
		}
		rows = append(rows, []any{string(sc.Image.Digest), sc.Environment, sc.EvaluationID, seconds(sc.EvaluatedAt),
			sc.Image.Repository, sc.Org, sc.Team, uint8(sc.Level), uint8(sc.Risk), flag(sc.VerifiedProvenance),
			sc.GapCodes(), sc.PolicyVersion, string(doc), uint64(sc.EvaluatedAt.UnixNano())})
	}
	return rows, nil
}
