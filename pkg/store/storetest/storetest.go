// Package storetest is the conformance suite every store.Store implementation passes. A store's
// own test calls Run with a function that opens a fresh, empty store; the suite then proves the
// semantics store.Writer and store.Reader promise: idempotent writes, newest-wins current state,
// coverage filters, ended deployments, artifact listings with their filters and cursors, the
// exact shape of what readers return, component search, the gap feed and its version, coverage
// roll-ups and trends, token records, and exceptions with their audit log and their effect on
// coverage.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// Run runs the conformance suite against the stores open returns. Each subtest calls open once
// for a fresh, empty store; open registers the store's cleanup with t and fails t when the store
// cannot be opened.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"EmptyCoverage", testEmptyCoverage},
		{"ArtifactRoundTrip", testArtifactRoundTrip},
		{"Idempotent", testIdempotent},
		{"NewerEvaluationWins", testNewerEvaluationWins},
		{"EvaluationTieBreak", testEvaluationTieBreak},
		{"SameEvaluationReplaces", testSameEvaluationReplaces},
		{"NewerCollectionWins", testNewerCollectionWins},
		{"LatestObservationWins", testLatestObservationWins},
		{"DeploymentEnded", testDeploymentEnded},
		{"EndedInOnePlace", testEndedInOnePlace},
		{"EndOrder", testEndOrder},
		{"EndedAtRoundTrip", testEndedAtRoundTrip},
		{"CoverageFilters", testCoverageFilters},
		{"TwoEnvironments", testTwoEnvironments},
		{"DeployedButUnscored", testDeployedButUnscored},
		{"NotFound", testNotFound},
		{"InvalidRejected", testInvalidRejected},
		{"ManyArtifacts", testManyArtifacts},
		{"ListEmpty", testListEmpty},
		{"ListPaging", testListPaging},
		{"ListFilters", testListFilters},
		{"ListInvalid", testListInvalid},
		{"EachArtifactStops", testEachArtifactStops},
		{"ComponentSearch", testComponentSearch},
		{"ComponentsInvalid", testComponentsInvalid},
		{"GapLifecycle", testGapLifecycle},
		{"GapsOfRunningDeployments", testGapsOfRunningDeployments},
		{"GapFeedFilters", testGapFeedFilters},
		{"GapsInvalid", testGapsInvalid},
		{"GapsVersion", testGapsVersion},
		{"RollupTrend", testRollupTrend},
		{"TrendIsCoverage", testTrendIsCoverage},
		{"TrendInvalid", testTrendInvalid},
		{"Tokens", testTokens},
		{"Exceptions", testExceptions},
		{"ExceptionsCoverage", testExceptionsCoverage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, open(t))
		})
	}
}

// base has nanoseconds on purpose: stores may keep times at second precision only, except a
// deployment's observation and end, which they keep exactly.
var base = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// cmpOpts compares what stores return with what was written: times at second precision in
// UTC, and nil and empty slices and maps as equal.
var cmpOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Transformer("SecondsUTC", func(t time.Time) time.Time { return t.Truncate(time.Second).UTC() }),
}

// exactOpts compares deployments as stores must return them: times to the nanosecond (cmp
// compares times with Equal, so their locations do not matter), nil and empty as equal.
var exactOpts = cmp.Options{cmpopts.EquateEmpty()}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func digestOf(name string) evidence.Digest {
	sum := sha256.Sum256([]byte(name))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// imageOf names an artifact after name; spaces become dashes in its repository.
func imageOf(name string) evidence.ImageRef {
	repo := "registry.example.com/apps/" + strings.ReplaceAll(name, " ", "-")
	return evidence.ImageRef{Repository: repo, Digest: digestOf(name)}
}

func provenanceDoc(img evidence.ImageRef, doc string, verified bool) evidence.Evidence {
	e := evidence.Evidence{
		ID:            digestOf("doc/" + doc),
		Kind:          evidence.KindProvenance,
		MediaType:     "application/vnd.dev.sigstore.bundle.v0.3+json",
		Source:        "oci-referrers",
		PredicateType: "https://slsa.dev/provenance/v1",
		Subjects:      []evidence.Digest{img.Digest},
		SubjectMatch:  true,
		Signed:        true,
		Verification: evidence.Verification{
			Verified: verified,
			Signer: &evidence.Signer{
				Type:              evidence.SignatureKeyless,
				Issuer:            "https://token.actions.githubusercontent.com",
				Identity:          "https://github.com/acme/builder/.github/workflows/build.yml@refs/heads/main",
				SourceRepository:  "https://github.com/acme/app",
				SourceRef:         "refs/heads/main",
				SourceDigest:      "0123456789abcdef0123456789abcdef01234567",
				RunnerEnvironment: "github-hosted",
			},
			TlogEntries: 1,
			Timestamps:  1,
			SignedAt:    base.Add(-time.Hour),
		},
		Provenance: &evidence.Provenance{
			BuildType:        "https://actions.github.io/buildtypes/workflow/v1",
			BuilderID:        "https://github.com/actions/runner/github-hosted",
			SourceRepository: "https://github.com/acme/app",
			SourceRef:        "refs/heads/main",
			SourceDigest:     "0123456789abcdef0123456789abcdef01234567",
		},
	}
	if !verified {
		e.Verification.Error = "certificate identity mismatch"
	}
	return e
}

func sbomDoc(doc string) evidence.Evidence {
	return evidence.Evidence{
		ID:            digestOf("doc/" + doc),
		Kind:          evidence.KindSBOM,
		MediaType:     "application/vnd.in-toto+json",
		Source:        "cosign-tag",
		PredicateType: "https://cyclonedx.org/bom",
		Verification:  evidence.Verification{Error: "unsigned"},
		SBOM:          &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 42, Ref: string(digestOf("raw/" + doc))},
	}
}

func collection(img evidence.ImageRef, at time.Time, docs ...evidence.Evidence) evidence.ArtifactEvidence {
	return evidence.ArtifactEvidence{Image: img, CollectedAt: at, Evidence: docs}
}

func deployment(img evidence.ImageRef, org, team, env, workload string, at time.Time) evidence.Deployment {
	return evidence.Deployment{
		Image:       img,
		Environment: env,
		Cluster:     env + "-cluster",
		Namespace:   team,
		Workload:    workload,
		Org:         org,
		Team:        team,
		ObservedAt:  at,
	}
}

// ended returns dep observed at observed to have ended at end.
func ended(dep evidence.Deployment, observed, end time.Time) evidence.Deployment {
	dep.ObservedAt = observed
	dep.EndedAt = &end
	return dep
}

// scoreFor scores img as deployed by dep.
func scoreFor(dep evidence.Deployment, id string, at time.Time, level evidence.Level, verified bool, gaps ...string) evidence.Score {
	s := evidence.Score{
		Image:              dep.Image,
		Environment:        dep.Environment,
		Org:                dep.Org,
		Team:               dep.Team,
		Level:              level,
		Risk:               10 * len(gaps),
		VerifiedProvenance: verified,
		Explanation:        []string{"provenance.present", fmt.Sprintf("level.%s", level)},
		PolicyVersion:      "policies@v1.2.3",
		EvaluationID:       id,
		EvaluatedAt:        at,
	}
	for _, code := range gaps {
		s.Gaps = append(s.Gaps, evidence.Gap{Code: code, Severity: "high", Message: code + " found", Rule: "data.aspm.gaps." + code})
	}
	return s
}

func mustWrite(t *testing.T, s store.Store, evs ...store.Evaluation) {
	t.Helper()
	for _, ev := range evs {
		if err := s.WriteEvaluation(ctxOf(t), ev); err != nil {
			t.Fatalf("WriteEvaluation(%s at %s): %v", ev.Evidence.Image, ev.Evidence.CollectedAt, err)
		}
	}
}

func mustCoverage(t *testing.T, s store.Store, q store.CoverageQuery) store.Coverage {
	t.Helper()
	c, err := s.Coverage(ctxOf(t), q)
	if err != nil {
		t.Fatalf("Coverage(%+v): %v", q, err)
	}
	return c
}

func mustArtifact(t *testing.T, s store.Store, d evidence.Digest) store.ArtifactDetail {
	t.Helper()
	a, err := s.Artifact(ctxOf(t), d)
	if err != nil {
		t.Fatalf("Artifact(%s): %v", d, err)
	}
	return a
}

func mustCurrentScores(t *testing.T, s store.Store, d evidence.Digest) []evidence.Score {
	t.Helper()
	got, err := s.CurrentScores(ctxOf(t), d)
	if err != nil {
		t.Fatalf("CurrentScores(%s): %v", d, err)
	}
	return got
}

func mustScoreHistory(t *testing.T, s store.Store, d evidence.Digest) []evidence.Score {
	t.Helper()
	got, err := s.ScoreHistory(ctxOf(t), d)
	if err != nil {
		t.Fatalf("ScoreHistory(%s): %v", d, err)
	}
	return got
}

// coverage builds the expected Coverage from counts of L0 to L3.
func coverage(l0, l1, l2, l3, verified, withGaps int) store.Coverage {
	return store.Coverage{
		Total:              l0 + l1 + l2 + l3,
		ByLevel:            map[string]int{"L0": l0, "L1": l1, "L2": l2, "L3": l3},
		VerifiedProvenance: verified,
		WithGaps:           withGaps,
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctxOf(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testEmptyCoverage(t *testing.T, s store.Store) {
	for _, q := range []store.CoverageQuery{{}, {Org: "acme"}, {Org: "acme", Team: "pay", Environment: "prod"}} {
		got := mustCoverage(t, s, q)
		// Compare without EquateEmpty: the four level keys must be present even at zero.
		if diff := cmp.Diff(coverage(0, 0, 0, 0, 0, 0), got); diff != "" {
			t.Errorf("Coverage(%+v) of an empty store (-want +got):\n%s", q, diff)
		}
	}
}

func testArtifactRoundTrip(t *testing.T, s store.Store) {
	img := imageOf("roundtrip")
	// Documents in an order that is neither by ID nor by kind: readers keep the written order.
	docs := []evidence.Evidence{
		sbomDoc("roundtrip-sbom"),
		provenanceDoc(img, "roundtrip-prov", true),
		{
			ID:        digestOf("doc/roundtrip-bad"),
			Kind:      evidence.KindUnknown,
			Source:    "github-attestations",
			Malformed: "payload is not an in-toto statement",
		},
	}
	col := collection(img, base, docs...)
	col.Errors = []string{"registry.example.com: referrers API: 500", "cosign tag: too large"}
	deps := []evidence.Deployment{
		deployment(img, "acme", "pay", "staging", "api", base.Add(-2*time.Minute)),
		deployment(img, "acme", "pay", "prod", "worker", base.Add(-time.Minute)),
		deployment(img, "acme", "pay", "prod", "api", base.Add(-3*time.Minute)),
	}
	deps[2].Cluster = "prod-eu" // sorts after "prod-cluster"
	scores := []evidence.Score{
		scoreFor(deps[0], "eval-1", base, 2, true),
		scoreFor(deps[1], "eval-1", base, 1, true, "level.below_required", "builder.self_hosted_runner"),
	}
	mustWrite(t, s, store.Evaluation{Evidence: col, Deployments: deps, Scores: scores})

	want := store.ArtifactDetail{
		Image:       img,
		CollectedAt: base,
		Evidence:    docs,
		Errors:      col.Errors,
		Scores:      []evidence.Score{scores[1], scores[0]},           // prod, staging
		Deployments: []evidence.Deployment{deps[1], deps[2], deps[0]}, // prod/prod-cluster, prod/prod-eu, staging
	}
	got := mustArtifact(t, s, img.Digest)
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Artifact (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Scores, mustCurrentScores(t, s, img.Digest), cmpOpts); diff != "" {
		t.Errorf("CurrentScores (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Scores, mustScoreHistory(t, s, img.Digest), cmpOpts); diff != "" {
		t.Errorf("ScoreHistory (-want +got):\n%s", diff)
	}
	// Both are verified; only prod has gaps; the artifact counts once at its highest level.
	if diff := cmp.Diff(coverage(0, 0, 1, 0, 1, 1), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testIdempotent(t *testing.T, s store.Store) {
	img := imageOf("idempotent")
	prod := deployment(img, "acme", "pay", "prod", "api", base)
	dev := deployment(img, "acme", "pay", "dev", "api", base)
	ev := store.Evaluation{
		Evidence:    collection(img, base, provenanceDoc(img, "idem-prov", true), sbomDoc("idem-sbom")),
		Deployments: []evidence.Deployment{prod, dev},
		Scores: []evidence.Score{
			scoreFor(prod, "eval-idem", base, 3, true),
			scoreFor(dev, "eval-idem", base, 2, true, "tlog.missing"),
		},
	}
	var firstCov store.Coverage
	var firstArt store.ArtifactDetail
	for i := range 3 {
		mustWrite(t, s, ev)
		cov := mustCoverage(t, s, store.CoverageQuery{})
		art := mustArtifact(t, s, img.Digest)
		if i == 0 {
			firstCov, firstArt = cov, art
			if diff := cmp.Diff(coverage(0, 0, 0, 1, 1, 1), cov); diff != "" {
				t.Fatalf("Coverage after the first write (-want +got):\n%s", diff)
			}
			continue
		}
		if diff := cmp.Diff(firstCov, cov); diff != "" {
			t.Errorf("Coverage after write %d (-first +now):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(firstArt, art, cmpOpts); diff != "" {
			t.Errorf("Artifact after write %d (-first +now):\n%s", i+1, diff)
		}
	}
	// One history row per (environment, evaluation), however often it was written.
	wantHistory := []evidence.Score{ev.Scores[1], ev.Scores[0]} // same time and ID: by environment
	if diff := cmp.Diff(wantHistory, mustScoreHistory(t, s, img.Digest), cmpOpts); diff != "" {
		t.Errorf("ScoreHistory after three writes (-want +got):\n%s", diff)
	}
	if got := mustArtifact(t, s, img.Digest); len(got.Deployments) != 2 || len(got.Evidence) != 2 {
		t.Errorf("Artifact after three writes: %d deployments, %d documents; want 2 and 2", len(got.Deployments), len(got.Evidence))
	}
}

func testNewerEvaluationWins(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		order []int // indexes into the evaluations, in write order
		batch bool  // written in one WriteEvaluations call
	}{
		{"in order", []int{0, 1}, false},
		{"older written after newer", []int{1, 0}, false},
		{"older redelivered", []int{0, 1, 0}, false},
		{"one batch in order", []int{0, 1}, true},
		{"one batch older after newer", []int{1, 0, 1}, true},
	}
	batches, _ := s.(store.BatchWriter)
	if batches == nil {
		t.Logf("%T writes no batches: the batch cases write one by one", s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := imageOf("newer-wins/" + tt.name)
			dep := deployment(img, "acme", "pay", "prod", "api", base)
			older := scoreFor(dep, "eval-old", base, 1, false, "provenance.unsigned")
			newer := scoreFor(dep, "eval-new", base.Add(time.Hour), 3, true)
			evs := []store.Evaluation{
				{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{older}},
				{Evidence: collection(img, base.Add(time.Hour)), Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{newer}},
			}
			if tt.batch && batches != nil {
				var batch []store.Evaluation
				for _, i := range tt.order {
					batch = append(batch, evs[i])
				}
				if err := batches.WriteEvaluations(ctxOf(t), batch); err != nil {
					t.Fatalf("WriteEvaluations: %v", err)
				}
			} else {
				for _, i := range tt.order {
					mustWrite(t, s, evs[i])
				}
			}
			if diff := cmp.Diff([]evidence.Score{newer}, mustCurrentScores(t, s, img.Digest), cmpOpts); diff != "" {
				t.Errorf("CurrentScores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]evidence.Score{older, newer}, mustScoreHistory(t, s, img.Digest), cmpOpts); diff != "" {
				t.Errorf("ScoreHistory (-want +got):\n%s", diff)
			}
			cov := mustCoverage(t, s, store.CoverageQuery{})
			if cov.ByLevel["L1"] != 0 {
				t.Errorf("Coverage counts %d artifacts at L1; the older evaluation must not be current", cov.ByLevel["L1"])
			}
			if got := mustArtifact(t, s, img.Digest); len(got.Scores) != 1 || got.Scores[0].EvaluationID != "eval-new" {
				t.Errorf("Artifact scores = %+v, want only eval-new", got.Scores)
			}
		})
	}
	// All five artifacts are L3, verified, without gaps.
	if diff := cmp.Diff(coverage(0, 0, 0, 5, 5, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testEvaluationTieBreak(t *testing.T, s store.Store) {
	for _, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		name := order[0] + order[1]
		t.Run(name, func(t *testing.T) {
			img := imageOf("tie/" + name)
			dep := deployment(img, "acme", "pay", "prod", "api", base)
			scores := map[string]evidence.Score{
				"a": scoreFor(dep, "eval-a", base, 1, false),
				"b": scoreFor(dep, "eval-b", base, 2, true),
			}
			for _, id := range order {
				mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{scores[id]}})
			}
			// Same evaluation time: the greater evaluation ID is current.
			if diff := cmp.Diff([]evidence.Score{scores["b"]}, mustCurrentScores(t, s, img.Digest), cmpOpts); diff != "" {
				t.Errorf("CurrentScores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]evidence.Score{scores["a"], scores["b"]}, mustScoreHistory(t, s, img.Digest), cmpOpts); diff != "" {
				t.Errorf("ScoreHistory (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(coverage(0, 0, 2, 0, 2, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testSameEvaluationReplaces(t *testing.T, s store.Store) {
	img := imageOf("same-evaluation")
	dep := deployment(img, "acme", "pay", "prod", "api", base)
	first := scoreFor(dep, "eval-1", base, 1, false, "provenance.unsigned")
	again := scoreFor(dep, "eval-1", base, 2, true)
	again.PolicyVersion = "policies@v1.2.4"
	for _, sc := range []evidence.Score{first, again} {
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{sc}})
	}
	// The same evaluation written again replaces its row: no duplicate, the last write wins.
	if diff := cmp.Diff([]evidence.Score{again}, mustScoreHistory(t, s, img.Digest), cmpOpts); diff != "" {
		t.Errorf("ScoreHistory (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(coverage(0, 0, 1, 0, 1, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testNewerCollectionWins(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		order []int
	}{
		{"in order", []int{0, 1}},
		{"older written after newer", []int{1, 0}},
		{"newer redelivered after older", []int{0, 1, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := imageOf("collections/" + tt.name)
			prov := provenanceDoc(img, "col-prov", true)
			older := collection(img, base, sbomDoc("col-sbom"), prov, sbomDoc("col-sbom-2"))
			older.Errors = []string{"referrers: timeout"}
			// The newer collection lacks both SBOMs and has no errors: they must no longer show.
			newer := collection(img, base.Add(time.Hour), prov)
			for _, i := range tt.order {
				mustWrite(t, s, store.Evaluation{Evidence: []evidence.ArtifactEvidence{older, newer}[i]})
			}
			want := store.ArtifactDetail{
				Image:       img,
				CollectedAt: newer.CollectedAt,
				Evidence:    newer.Evidence,
			}
			if diff := cmp.Diff(want, mustArtifact(t, s, img.Digest), cmpOpts); diff != "" {
				t.Errorf("Artifact (-want +got):\n%s", diff)
			}
		})
	}
	// Never deployed: no coverage.
	if diff := cmp.Diff(coverage(0, 0, 0, 0, 0, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testLatestObservationWins(t *testing.T, s store.Store) {
	img := imageOf("observations")
	first := deployment(img, "acme", "pay", "prod", "api", base)
	moved := first
	moved.Team = "web" // the team is not part of the key: the same place, re-owned
	moved.ObservedAt = base.Add(time.Hour)
	// The newer observation arrives first; the older one, delivered late, must not win.
	for _, dep := range []evidence.Deployment{moved, first} {
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}})
	}
	got := mustArtifact(t, s, img.Digest)
	if diff := cmp.Diff([]evidence.Deployment{moved}, got.Deployments, cmpOpts); diff != "" {
		t.Errorf("Artifact deployments (-want +got):\n%s", diff)
	}
	tests := []struct {
		team string
		want store.Coverage
	}{
		{"web", coverage(1, 0, 0, 0, 0, 0)},
		{"pay", coverage(0, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, mustCoverage(t, s, store.CoverageQuery{Team: tt.team})); diff != "" {
			t.Errorf("Coverage(team %s) (-want +got):\n%s", tt.team, diff)
		}
	}
}

// testDeploymentEnded ends an artifact's only deployment: it stops counting in coverage, and
// its deployment and scores stay readable as history.
func testDeploymentEnded(t *testing.T, s store.Store) {
	img := imageOf("ended")
	dep := deployment(img, "acme", "pay", "prod", "api", base)
	ev := store.Evaluation{
		Evidence:    collection(img, base, provenanceDoc(img, "ended-prov", true)),
		Deployments: []evidence.Deployment{dep},
		Scores:      []evidence.Score{scoreFor(dep, "eval-ended", base, 2, true, "sbom.missing")},
	}
	mustWrite(t, s, ev)
	queries := []store.CoverageQuery{{}, {Org: "acme"}, {Team: "pay"}, {Environment: "prod"}, {Org: "acme", Team: "pay", Environment: "prod"}}
	for _, q := range queries {
		if diff := cmp.Diff(coverage(0, 0, 1, 0, 1, 1), mustCoverage(t, s, q)); diff != "" {
			t.Fatalf("Coverage(%+v) while deployed (-want +got):\n%s", q, diff)
		}
	}
	// The workload was removed: noticed an hour later, ended then.
	end := ended(dep, base.Add(time.Hour), base.Add(time.Hour))
	for i := range 2 { // the end redelivered changes nothing
		mustWrite(t, s, store.Evaluation{Evidence: ev.Evidence, Deployments: []evidence.Deployment{end}})
		for _, q := range queries {
			if diff := cmp.Diff(coverage(0, 0, 0, 0, 0, 0), mustCoverage(t, s, q)); diff != "" {
				t.Errorf("write %d: Coverage(%+v) after the end (-want +got):\n%s", i+1, q, diff)
			}
		}
		art := mustArtifact(t, s, img.Digest)
		if diff := cmp.Diff([]evidence.Deployment{end}, art.Deployments, exactOpts); diff != "" {
			t.Errorf("write %d: Artifact deployments after the end (-want +got):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(ev.Scores, art.Scores, cmpOpts); diff != "" {
			t.Errorf("write %d: Artifact scores after the end (-want +got):\n%s", i+1, diff)
		}
	}
}

// testEndedInOnePlace ends the deployments of an artifact deployed in three places one by one:
// it counts, in each environment, while a deployment there runs.
func testEndedInOnePlace(t *testing.T, s store.Store) {
	img := imageOf("ended-in-one-place")
	col := collection(img, base, provenanceDoc(img, "one-place-prov", true))
	// In the order readers list them: prod api, prod worker, staging api.
	deps := []evidence.Deployment{
		deployment(img, "acme", "pay", "prod", "api", base),
		deployment(img, "acme", "pay", "prod", "worker", base),
		deployment(img, "acme", "pay", "staging", "api", base),
	}
	mustWrite(t, s, store.Evaluation{
		Evidence:    col,
		Deployments: deps,
		Scores: []evidence.Score{
			scoreFor(deps[0], "eval-one-place", base, 1, false, "level.below_required"),
			scoreFor(deps[2], "eval-one-place", base, 3, true),
		},
	})
	at := base.Add(time.Hour)
	queries := []store.CoverageQuery{{}, {Environment: "prod"}, {Environment: "staging"}}
	none := coverage(0, 0, 0, 0, 0, 0)
	steps := []struct {
		name string
		end  int              // the index in deps of the deployment ended in this step, or -1
		want []store.Coverage // per query
	}{
		{"all running", -1, []store.Coverage{coverage(0, 0, 0, 1, 1, 1), coverage(0, 1, 0, 0, 0, 1), coverage(0, 0, 0, 1, 1, 0)}},
		// Only prod runs it: the artifact counts at its prod level.
		{"staging ended", 2, []store.Coverage{coverage(0, 1, 0, 0, 0, 1), coverage(0, 1, 0, 0, 0, 1), none}},
		// The worker still runs it in prod.
		{"prod api ended", 0, []store.Coverage{coverage(0, 1, 0, 0, 0, 1), coverage(0, 1, 0, 0, 0, 1), none}},
		{"prod worker ended", 1, []store.Coverage{none, none, none}},
	}
	for _, step := range steps {
		if step.end >= 0 {
			deps[step.end] = ended(deps[step.end], at, at)
			mustWrite(t, s, store.Evaluation{Evidence: col, Deployments: []evidence.Deployment{deps[step.end]}})
		}
		for i, q := range queries {
			if diff := cmp.Diff(step.want[i], mustCoverage(t, s, q)); diff != "" {
				t.Errorf("%s: Coverage(%+v) (-want +got):\n%s", step.name, q, diff)
			}
		}
		// Ended or not, every deployment is listed, in the usual order.
		if diff := cmp.Diff(deps, mustArtifact(t, s, img.Digest).Deployments, exactOpts); diff != "" {
			t.Errorf("%s: Artifact deployments (-want +got):\n%s", step.name, diff)
		}
	}
}

// observation is one observation of a deployment in testEndOrder: when, and whether it is an
// end (ended when noticed).
type observation struct {
	at  time.Time
	end bool
}

// testEndOrder proves that ends follow the latest-observation rule whatever order observations
// arrive in: an older observation, delivered late, neither revives nor ends a deployment; a
// newer one without an end revives it.
func testEndOrder(t *testing.T, s store.Store) {
	t0, t1, t2, t3 := base, base.Add(time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour)
	tests := []struct {
		name   string
		writes []observation // of one deployment, in write order
		want   int           // the index in writes of the observation that must be current
	}{
		{"ended", []observation{{t0, false}, {t2, true}}, 1},
		{"late older observation does not revive", []observation{{t0, false}, {t2, true}, {t1, false}}, 1},
		{"end before an older first observation", []observation{{t2, true}, {t1, false}}, 0},
		{"end redelivered", []observation{{t0, false}, {t2, true}, {t2, true}}, 1},
		{"newer observation revives", []observation{{t0, false}, {t2, true}, {t3, false}}, 2},
		{"late older end does not end", []observation{{t0, false}, {t3, false}, {t2, true}}, 1},
		{"revived then the end redelivered", []observation{{t0, false}, {t2, true}, {t3, false}, {t2, true}}, 2},
		{"ended again", []observation{{t0, false}, {t1, true}, {t2, false}, {t3, true}}, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := fmt.Sprintf("order-%d", i) // coverage of this case alone
			img := imageOf("end-order/" + tt.name)
			dep := deployment(img, org, "pay", "prod", "api", t0)
			sc := scoreFor(dep, "eval-order", t0, 2, true)
			var deps []evidence.Deployment
			for _, o := range tt.writes {
				d := dep
				d.ObservedAt = o.at
				if o.end {
					d = ended(dep, o.at, o.at)
				}
				deps = append(deps, d)
				mustWrite(t, s, store.Evaluation{Evidence: collection(img, t0), Deployments: []evidence.Deployment{d},
					Scores: []evidence.Score{sc}})
			}
			want := deps[tt.want]
			if diff := cmp.Diff([]evidence.Deployment{want}, mustArtifact(t, s, img.Digest).Deployments, exactOpts); diff != "" {
				t.Errorf("Artifact deployments (-want +got):\n%s", diff)
			}
			wantCov := coverage(0, 0, 1, 0, 1, 0)
			if want.Ended() {
				wantCov = coverage(0, 0, 0, 0, 0, 0)
			}
			if diff := cmp.Diff(wantCov, mustCoverage(t, s, store.CoverageQuery{Org: org})); diff != "" {
				t.Errorf("Coverage (-want +got):\n%s", diff)
			}
		})
	}
}

// testEndedAtRoundTrip proves stores keep a deployment's end to the nanosecond, whether it is the
// moment the end was noticed or later, and even on a key's first observation.
func testEndedAtRoundTrip(t *testing.T, s store.Store) {
	img := imageOf("ended-round-trip")
	running := deployment(img, "acme", "pay", "prod", "api", base)
	endedNow := ended(deployment(img, "acme", "pay", "prod", "batch", base), base.Add(time.Minute), base.Add(time.Minute))
	endedLater := ended(deployment(img, "acme", "pay", "prod", "cron", base), base.Add(time.Minute),
		base.Add(90*time.Minute+987654321))
	deps := []evidence.Deployment{running, endedNow, endedLater}
	mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: deps})
	want := []evidence.Deployment{running, endedNow, endedLater} // api, batch, cron
	if diff := cmp.Diff(want, mustArtifact(t, s, img.Digest).Deployments, exactOpts); diff != "" {
		t.Errorf("Artifact deployments (-want +got):\n%s", diff)
	}
	// Deployed but unscored: L0, counted once for the deployment that runs.
	if diff := cmp.Diff(coverage(1, 0, 0, 0, 0, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
}

func testCoverageFilters(t *testing.T, s store.Store) {
	type deployed struct {
		org, team, env string
		level          evidence.Level
		verified       bool
		gaps           []string
		unscored       bool
	}
	artifacts := map[string][]deployed{
		"a1": {{org: "acme", team: "pay", env: "prod", level: 3, verified: true}},
		"a2": {{org: "acme", team: "pay", env: "staging", level: 1, gaps: []string{"provenance.unsigned"}}},
		"a3": {{org: "acme", team: "web", env: "prod", level: 2, verified: true, gaps: []string{"level.below_required"}}},
		"a4": {{org: "globex", team: "core", env: "prod", unscored: true}},
		"a5": {
			{org: "acme", team: "web", env: "prod", level: 0, gaps: []string{"provenance.missing"}},
			{org: "acme", team: "web", env: "dev", level: 2, verified: true},
		},
	}
	for name, places := range artifacts {
		img := imageOf("filters/" + name)
		ev := store.Evaluation{Evidence: collection(img, base)}
		for _, p := range places {
			dep := deployment(img, p.org, p.team, p.env, "svc", base)
			ev.Deployments = append(ev.Deployments, dep)
			if !p.unscored {
				ev.Scores = append(ev.Scores, scoreFor(dep, "eval-"+name, base, p.level, p.verified, p.gaps...))
			}
		}
		mustWrite(t, s, ev)
	}
	tests := []struct {
		q    store.CoverageQuery
		want store.Coverage
	}{
		{store.CoverageQuery{}, coverage(1, 1, 2, 1, 3, 3)},
		{store.CoverageQuery{Org: "acme"}, coverage(0, 1, 2, 1, 3, 3)},
		{store.CoverageQuery{Org: "globex"}, coverage(1, 0, 0, 0, 0, 0)},
		{store.CoverageQuery{Org: "nobody"}, coverage(0, 0, 0, 0, 0, 0)},
		{store.CoverageQuery{Team: "web"}, coverage(0, 0, 2, 0, 2, 2)},
		// a5 in prod alone is L0 with a gap; its verified dev score does not count here.
		{store.CoverageQuery{Environment: "prod"}, coverage(2, 0, 1, 1, 2, 2)},
		{store.CoverageQuery{Org: "acme", Team: "web", Environment: "dev"}, coverage(0, 0, 1, 0, 1, 0)},
		{store.CoverageQuery{Team: "pay", Environment: "prod"}, coverage(0, 0, 0, 1, 1, 0)},
		{store.CoverageQuery{Org: "globex", Environment: "staging"}, coverage(0, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("org=%s,team=%s,env=%s", tt.q.Org, tt.q.Team, tt.q.Environment), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, mustCoverage(t, s, tt.q)); diff != "" {
				t.Errorf("Coverage(%+v) (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func testTwoEnvironments(t *testing.T, s store.Store) {
	img := imageOf("two-environments")
	prod := deployment(img, "acme", "pay", "prod", "api", base)
	staging := deployment(img, "acme", "pay", "staging", "api", base)
	ev := store.Evaluation{
		Evidence:    collection(img, base, provenanceDoc(img, "two-env", true)),
		Deployments: []evidence.Deployment{prod, staging},
		Scores: []evidence.Score{
			scoreFor(prod, "eval-2env", base, 1, true, "level.below_required"),
			scoreFor(staging, "eval-2env", base, 3, true),
		},
	}
	mustWrite(t, s, ev)
	tests := []struct {
		q    store.CoverageQuery
		want store.Coverage
	}{
		// The highest level over both environments; verified and gaps count the artifact once.
		{store.CoverageQuery{}, coverage(0, 0, 0, 1, 1, 1)},
		{store.CoverageQuery{Environment: "prod"}, coverage(0, 1, 0, 0, 1, 1)},
		{store.CoverageQuery{Environment: "staging"}, coverage(0, 0, 0, 1, 1, 0)},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, mustCoverage(t, s, tt.q)); diff != "" {
			t.Errorf("Coverage(%+v) (-want +got):\n%s", tt.q, diff)
		}
	}
	if diff := cmp.Diff(ev.Scores, mustCurrentScores(t, s, img.Digest), cmpOpts); diff != "" {
		t.Errorf("CurrentScores (-want +got):\n%s", diff)
	}
}

func testDeployedButUnscored(t *testing.T, s store.Store) {
	unscored := imageOf("unscored")
	dep := deployment(unscored, "acme", "pay", "prod", "api", base)
	// Scored only for an environment it is not deployed to: still L0 where it runs.
	elsewhere := imageOf("scored-elsewhere")
	devDep := deployment(elsewhere, "acme", "pay", "dev", "api", base)
	prodScore := scoreFor(deployment(elsewhere, "acme", "pay", "prod", "api", base), "eval-elsewhere", base, 3, true, "sbom.missing")
	mustWrite(t, s,
		store.Evaluation{Evidence: collection(unscored, base), Deployments: []evidence.Deployment{dep}},
		store.Evaluation{Evidence: collection(elsewhere, base), Deployments: []evidence.Deployment{devDep}, Scores: []evidence.Score{prodScore}},
	)
	if diff := cmp.Diff(coverage(2, 0, 0, 0, 0, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage (-want +got):\n%s", diff)
	}
	got := mustCurrentScores(t, s, unscored.Digest)
	if got == nil || len(got) != 0 {
		t.Errorf("CurrentScores of an unscored artifact = %#v, want an empty, non-nil slice", got)
	}
	art := mustArtifact(t, s, unscored.Digest)
	if art.Scores == nil || len(art.Scores) != 0 {
		t.Errorf("Artifact.Scores of an unscored artifact = %#v, want an empty, non-nil slice", art.Scores)
	}
	if art.Evidence == nil || len(art.Evidence) != 0 {
		t.Errorf("Artifact.Evidence of an artifact without documents = %#v, want an empty, non-nil slice", art.Evidence)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	known := imageOf("known")
	mustWrite(t, s, store.Evaluation{Evidence: collection(known, base)})
	if _, err := s.Artifact(ctxOf(t), known.Digest); err != nil {
		t.Fatalf("Artifact(written digest): %v", err)
	}
	missing := digestOf("never-written")
	_, err := s.Artifact(ctxOf(t), missing)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Artifact(never written) error = %v, want one wrapping store.ErrNotFound", err)
	}
	for name, read := range map[string]func(context.Context, evidence.Digest) ([]evidence.Score, error){
		"CurrentScores": s.CurrentScores,
		"ScoreHistory":  s.ScoreHistory,
	} {
		got, err := read(ctxOf(t), missing)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("%s(never written) = %#v, %v; want an empty, non-nil slice and no error", name, got, err)
		}
	}
}

func testInvalidRejected(t *testing.T, s store.Store) {
	img := imageOf("invalid")
	other := imageOf("invalid-other")
	dep := deployment(img, "acme", "pay", "prod", "api", base)
	valid := func() store.Evaluation {
		return store.Evaluation{
			Evidence:    collection(img, base, provenanceDoc(img, "invalid-prov", true)),
			Deployments: []evidence.Deployment{dep},
			Scores:      []evidence.Score{scoreFor(dep, "eval-invalid", base, 2, true)},
		}
	}
	tests := []struct {
		name   string
		mutate func(ev *store.Evaluation)
	}{
		{"bad digest", func(ev *store.Evaluation) { ev.Evidence.Image.Digest = "sha256:ABC" }},
		{"tag instead of repository", func(ev *store.Evaluation) { ev.Evidence.Image.Repository = "app" }},
		{"document without source", func(ev *store.Evaluation) { ev.Evidence.Evidence[0].Source = "" }},
		{"deployment without org", func(ev *store.Evaluation) { ev.Deployments[0].Org = "" }},
		{"deployment of another artifact", func(ev *store.Evaluation) { ev.Deployments[0].Image = other }},
		{"score of another artifact", func(ev *store.Evaluation) { ev.Scores[0].Image = other }},
		{"level out of range", func(ev *store.Evaluation) { ev.Scores[0].Level = 4 }},
		{"risk out of range", func(ev *store.Evaluation) { ev.Scores[0].Risk = 101 }},
		{"score without evaluation ID", func(ev *store.Evaluation) { ev.Scores[0].EvaluationID = "" }},
		{"no collection time", func(ev *store.Evaluation) { ev.Evidence.CollectedAt = time.Time{} }},
		{"no observation time", func(ev *store.Evaluation) { ev.Deployments[0].ObservedAt = time.Time{} }},
		{"no evaluation time", func(ev *store.Evaluation) { ev.Scores[0].EvaluatedAt = time.Time{} }},
		{"time before 1970", func(ev *store.Evaluation) { ev.Scores[0].EvaluatedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"end before observation", func(ev *store.Evaluation) {
			ev.Deployments[0] = ended(ev.Deployments[0], base, base.Add(-time.Nanosecond))
		}},
		{"end after 2105", func(ev *store.Evaluation) {
			ev.Deployments[0] = ended(ev.Deployments[0], base, time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"end at the epoch", func(ev *store.Evaluation) {
			ev.Deployments[0] = ended(ev.Deployments[0], time.Unix(0, 0), time.Unix(0, 0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := valid()
			tt.mutate(&ev)
			err := s.WriteEvaluation(ctxOf(t), ev)
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("WriteEvaluation error = %v, want one wrapping evidence.ErrInvalid", err)
			}
		})
	}
	// Nothing of a rejected evaluation was stored.
	if _, err := s.Artifact(ctxOf(t), img.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Artifact after rejected writes: error = %v, want store.ErrNotFound", err)
	}
	if diff := cmp.Diff(coverage(0, 0, 0, 0, 0, 0), mustCoverage(t, s, store.CoverageQuery{})); diff != "" {
		t.Errorf("Coverage after rejected writes (-want +got):\n%s", diff)
	}
	// The valid evaluation itself is accepted.
	mustWrite(t, s, valid())
}

func testManyArtifacts(t *testing.T, s store.Store) {
	const n = 50
	for i := range n {
		img := imageOf(fmt.Sprintf("many/%02d", i))
		team := "team-b"
		if i%2 == 0 {
			team = "team-a"
		}
		dep := deployment(img, "acme", team, "prod", "svc", base)
		ev := store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}}
		if i%10 != 9 { // every tenth is deployed but not yet scored
			var gaps []string
			if i%5 == 0 {
				gaps = []string{"source.unpinned"}
			}
			ev.Scores = []evidence.Score{scoreFor(dep, fmt.Sprintf("eval-%02d", i), base, evidence.Level(i%4), i%3 == 0, gaps...)}
		}
		mustWrite(t, s, ev)
	}
	tests := []struct {
		q    store.CoverageQuery
		want store.Coverage
	}{
		// Levels i%4, with 9, 19, 29, 39, 49 unscored (L0): 13+5, 13-3, 12, 12-2.
		// Verified when i%3 == 0: 17, less the unscored 9 and 39. Gaps when i%5 == 0: 10.
		{store.CoverageQuery{}, coverage(18, 10, 12, 10, 15, 10)},
		// The even half: levels 0 and 2 only; verified when i%6 == 0; gaps when i%10 == 0.
		{store.CoverageQuery{Team: "team-a"}, coverage(13, 0, 12, 0, 9, 5)},
		{store.CoverageQuery{Org: "acme", Environment: "prod"}, coverage(18, 10, 12, 10, 15, 10)},
		{store.CoverageQuery{Environment: "dev"}, coverage(0, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, mustCoverage(t, s, tt.q)); diff != "" {
			t.Errorf("Coverage(%+v) (-want +got):\n%s", tt.q, diff)
		}
	}
}
