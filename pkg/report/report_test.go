package report_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	base = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	from = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
)

func digestOf(name string) evidence.Digest {
	sum := sha256.Sum256([]byte(name))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

func imageOf(name string) evidence.ImageRef {
	return evidence.ImageRef{Repository: "registry.example.com/acme/" + name, Digest: digestOf(name)}
}

func provenanceDoc(img evidence.ImageRef, verified bool) evidence.Evidence {
	e := evidence.Evidence{
		ID: digestOf("prov/" + img.Repository), Kind: evidence.KindProvenance, Source: "oci-referrers",
		PredicateType: "https://slsa.dev/provenance/v1", Subjects: []evidence.Digest{img.Digest}, SubjectMatch: true,
		Signed:       true,
		Verification: evidence.Verification{Verified: verified, TlogEntries: 1},
		Provenance:   &evidence.Provenance{BuilderID: "https://github.com/actions/runner/github-hosted"},
	}
	if !verified {
		e.Verification.Error = "no trusted signer"
	}
	return e
}

func sbomDoc(img evidence.ImageRef, components int) evidence.Evidence {
	return evidence.Evidence{ID: digestOf("sbom/" + img.Repository), Kind: evidence.KindSBOM, Source: "cosign-tag",
		Verification: evidence.Verification{Error: "unsigned"},
		SBOM:         &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: components}}
}

// artifact describes one seeded artifact: where it runs (env → team) and its gaps there; no
// gaps map means it is deployed but not yet scored.
type artifact struct {
	name, org string
	envs      map[string]string
	prov      int // 0 none, 1 unverified, 2 verified
	sbom      int // components, 0 for no SBOM
	gaps      map[string][]string
	ended     bool
}

func (a artifact) evaluation() store.Evaluation {
	img := imageOf(a.name)
	ev := store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: img, CollectedAt: base}}
	if a.prov > 0 {
		ev.Evidence.Evidence = append(ev.Evidence.Evidence, provenanceDoc(img, a.prov == 2))
	}
	if a.sbom > 0 {
		ev.Evidence.Evidence = append(ev.Evidence.Evidence, sbomDoc(img, a.sbom))
	}
	envs := make([]string, 0, len(a.envs))
	for env := range a.envs {
		envs = append(envs, env)
	}
	slices.Sort(envs)
	for _, env := range envs {
		dep := evidence.Deployment{Image: img, Environment: env, Cluster: env, Namespace: a.envs[env], Workload: a.name,
			Org: a.org, Team: a.envs[env], ObservedAt: base}
		if a.ended {
			end := base.Add(time.Hour)
			dep.ObservedAt, dep.EndedAt = end, &end
		}
		ev.Deployments = append(ev.Deployments, dep)
		if a.gaps == nil {
			continue
		}
		s := evidence.Score{Image: img, Environment: env, Org: a.org, Team: a.envs[env], Level: 3,
			VerifiedProvenance: a.prov == 2, Gaps: []evidence.Gap{}, PolicyVersion: "test", EvaluationID: "eval-" + a.name,
			EvaluatedAt: base}
		for _, code := range a.gaps[env] {
			s.Gaps = append(s.Gaps, evidence.Gap{Code: code, Severity: "high", Message: code, Rule: "data.aspm.gaps"})
			s.Level = 1
		}
		ev.Scores = append(ev.Scores, s)
	}
	return ev
}

func exception(id, org, code string, scope store.ExceptionScope, created time.Time, ttl time.Duration) store.ExceptionChange {
	e := store.Exception{ID: id, Org: org, Code: code, Scope: scope, Reason: "accepted for test " + id, Owner: "owner-" + id,
		CreatedAt: created, ExpiresAt: created.Add(ttl), CreatedBy: "test", UpdatedAt: created, Version: created.UnixNano()}
	return store.ExceptionChange{At: created, Actor: "test", Action: store.ExceptionCreated, Exception: e}
}

// world is the seeded data of the golden reports: acme runs four artifacts — one clean, one
// whose missing SBOM an exception accepts, one with no evidence at all, one not yet scored —
// and one whose deployment ended; globex runs one of its own.
var (
	world = []artifact{
		{name: "good", org: "acme", envs: map[string]string{"prod": "payments", "staging": "payments"}, prov: 2, sbom: 42,
			gaps: map[string][]string{}},
		{name: "nosbom", org: "acme", envs: map[string]string{"prod": "storefront"}, prov: 2,
			gaps: map[string][]string{"prod": {"sbom.missing"}}},
		{name: "legacy", org: "acme", envs: map[string]string{"staging": "data"},
			gaps: map[string][]string{"staging": {"level.below_required", "provenance.missing", "sbom.missing"}}},
		{name: "unscored", org: "acme", envs: map[string]string{"dev": "data"}, prov: 1, sbom: 3},
		{name: "retired", org: "acme", envs: map[string]string{"prod": "payments"}, gaps: map[string][]string{"prod": {"provenance.missing"}}, ended: true},
		{name: "globex-app", org: "globex", envs: map[string]string{"prod": "ops"}, prov: 2, sbom: 7,
			gaps: map[string][]string{"prod": {"builder.untrusted"}}},
	}
	exceptions = []store.ExceptionChange{
		// Active at the window's end: accepts nosbom's missing SBOM.
		exception("exc_00000000000000a1", "acme", "sbom.missing", store.ExceptionScope{Digest: digestOf("nosbom")}, base, 90*24*time.Hour),
		// Expired before the window's end: accepts nothing.
		exception("exc_00000000000000a2", "acme", "provenance.missing", store.ExceptionScope{Environment: "staging"}, base.Add(-60*24*time.Hour), 30*24*time.Hour),
		// Created after the window's end: accepts nothing yet.
		exception("exc_00000000000000a3", "acme", "level.below_required", store.ExceptionScope{Team: "data"}, to.Add(time.Hour), 30*24*time.Hour),
		// Another org's.
		exception("exc_00000000000000b1", "globex", "builder.untrusted", store.ExceptionScope{Environment: "prod"}, base, 90*24*time.Hour),
	}
)

type fullStore interface {
	store.Writer
	report.ArtifactSource
	report.ExceptionSource
	WriteExceptionChange(ctx context.Context, c store.ExceptionChange) error
}

func seed(t *testing.T, s fullStore, arts []artifact, exs []store.ExceptionChange) {
	t.Helper()
	for _, a := range arts {
		if err := s.WriteEvaluation(t.Context(), a.evaluation()); err != nil {
			t.Fatalf("writing %s: %v", a.name, err)
		}
	}
	for _, c := range exs {
		if err := s.WriteExceptionChange(t.Context(), c); err != nil {
			t.Fatalf("writing %s: %v", c.Exception.ID, err)
		}
	}
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "aspm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mapping(t *testing.T) *report.Mapping {
	t.Helper()
	m, err := report.LoadMapping(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func build(t *testing.T, s fullStore, q report.Query) *report.Report {
	t.Helper()
	r, err := report.Build(t.Context(), mapping(t), s, s, q)
	if err != nil {
		t.Fatalf("Build(%+v): %v", q, err)
	}
	return r
}

func render(t *testing.T, r *report.Report, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Render(&buf, r, format); err != nil {
		t.Fatalf("Render(%s): %v", format, err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

func byID(r *report.Report, id string) report.RequirementResult {
	for _, q := range r.Requirements {
		if q.ID == id {
			return q
		}
	}
	return report.RequirementResult{}
}

// TestGolden checks the SSDF and FedRAMP reports of the seeded world against golden files
// (checked by hand), and the figures the golden files rest on.
func TestGolden(t *testing.T) {
	s := openSQLite(t)
	seed(t, s, world, exceptions)
	for _, fw := range []string{report.SSDF, report.FedRAMP} {
		r := build(t, s, report.Query{Framework: fw, Org: "acme", From: from, To: to})
		golden(t, fw+".json", render(t, r, report.FormatJSON))
		golden(t, fw+".csv", render(t, r, report.FormatCSV))
	}

	r := build(t, s, report.Query{Framework: report.SSDF, Org: "acme", From: from, To: to})
	if r.Summary.Artifacts != 4 {
		t.Errorf("%d artifacts in scope, want 4 (good, nosbom, legacy, unscored; not retired nor globex's)", r.Summary.Artifacts)
	}
	if got := len(r.Requirements); got != 16 {
		t.Errorf("%d SSDF tasks, want 16", got)
	}
	// PW.4.1 needs an SBOM inventory: good has one, nosbom's missing SBOM is accepted, legacy
	// has none, unscored is not evaluated.
	pw41 := byID(r, "PW.4.1")
	want := report.RequirementResult{Requirement: pw41.Requirement, Status: report.PartiallySatisfied, Artifacts: 4,
		Satisfying: 2, Accepted: 1, Failing: 2, EvidenceDocuments: 2, EvidenceVerified: 0,
		FailingArtifacts: []report.FailingArtifact{
			{Digest: digestOf("legacy"), Repository: imageOf("legacy").Repository, Environments: []string{"staging"}, Gaps: []string{"rule:sbom_inventory"}},
			{Digest: digestOf("unscored"), Repository: imageOf("unscored").Repository, Environments: []string{"dev"}, Gaps: []string{"rule:policy_evaluated"}},
		},
		Exceptions: []report.AcceptedException{{ID: "exc_00000000000000a1", Code: "sbom.missing",
			Scope: store.ExceptionScope{Digest: digestOf("nosbom")}, Owner: "owner-exc_00000000000000a1",
			Reason: "accepted for test exc_00000000000000a1", CreatedAt: base, ExpiresAt: base.Add(90 * 24 * time.Hour)}},
	}
	slices.SortFunc(want.FailingArtifacts, func(a, b report.FailingArtifact) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	if diff := cmp.Diff(want, pw41); diff != "" {
		t.Errorf("PW.4.1 (-want +got):\n%s", diff)
	}
	// The expired exception and the one created after the window accept nothing.
	for _, w := range r.AcceptedWeaknesses {
		if w.Exception.ID != "exc_00000000000000a1" {
			t.Errorf("accepted weakness by %s, which is not active at the window's end", w.Exception.ID)
		}
	}
	if len(r.AcceptedWeaknesses) != 1 {
		t.Errorf("%d accepted weaknesses, want 1", len(r.AcceptedWeaknesses))
	}
	var open []string
	for _, w := range r.OpenWeaknesses {
		open = append(open, w.Code)
	}
	if diff := cmp.Diff([]string{"level.below_required", "provenance.missing", "sbom.missing"}, open); diff != "" {
		t.Errorf("open weaknesses (-want +got):\n%s", diff)
	}

	f := build(t, s, report.Query{Framework: report.FedRAMP, Org: "acme", From: from, To: to})
	baselines := map[string][]string{}
	for _, q := range f.Requirements {
		baselines[q.ID] = q.Baselines
	}
	wantBaselines := map[string][]string{
		"SR-3": {"low", "moderate", "high"}, "SR-4": nil, "SR-4(1)": nil, "SR-4(2)": nil, "SR-4(3)": nil, "SR-4(4)": nil,
		"SR-11": {"low", "moderate", "high"}, "CM-8": {"low", "moderate", "high"}, "CM-14": {"high"},
		"SI-7": {"moderate", "high"}, "SI-7(1)": {"moderate", "high"}, "SI-7(6)": nil, "SI-7(15)": {"high"},
		"SA-10": {"moderate", "high"}, "SA-15": {"moderate", "high"}, "RA-5": {"low", "moderate", "high"},
	}
	if diff := cmp.Diff(wantBaselines, baselines); diff != "" {
		t.Errorf("FedRAMP baselines (-want +got):\n%s", diff)
	}
}

// TestStatusBoundaries checks satisfied, partially satisfied and not satisfied per task: all
// artifacts meeting it, some, none, and no artifacts at all.
func TestStatusBoundaries(t *testing.T) {
	clean := artifact{name: "clean", org: "acme", envs: map[string]string{"prod": "a"}, prov: 2, sbom: 5, gaps: map[string][]string{}}
	clean2 := clean
	clean2.name = "clean2"
	bare := artifact{name: "bare", org: "acme", envs: map[string]string{"prod": "a"},
		gaps: map[string][]string{"prod": {"provenance.missing", "sbom.missing", "level.below_required"}}}
	bare2 := bare
	bare2.name = "bare2"
	accepted := artifact{name: "accepted", org: "acme", envs: map[string]string{"prod": "a"}, prov: 2,
		gaps: map[string][]string{"prod": {"sbom.missing"}}}
	for _, tc := range []struct {
		name string
		arts []artifact
		exs  []store.ExceptionChange
		// want is the status of PS.3.2 (provenance and SBOM) and RV.1.1 (SBOM inventory).
		want map[string]string
	}{
		{"all meet", []artifact{clean, clean2}, nil, map[string]string{"PS.3.2": report.Satisfied, "RV.1.1": report.Satisfied}},
		{"some meet", []artifact{clean, bare}, nil, map[string]string{"PS.3.2": report.PartiallySatisfied, "RV.1.1": report.PartiallySatisfied}},
		{"none meet", []artifact{bare, bare2}, nil, map[string]string{"PS.3.2": report.NotSatisfied, "RV.1.1": report.NotSatisfied}},
		{"no artifacts", nil, nil, map[string]string{"PS.3.2": report.NotSatisfied, "RV.1.1": report.NotSatisfied}},
		{"accepted gaps do not fail", []artifact{clean, accepted},
			[]store.ExceptionChange{exception("exc_00000000000000c1", "acme", "sbom.missing", store.ExceptionScope{Environment: "prod"}, base, 30*24*time.Hour)},
			map[string]string{"PS.3.2": report.Satisfied, "RV.1.1": report.Satisfied}},
		{"expired exceptions accept nothing", []artifact{clean, accepted},
			[]store.ExceptionChange{exception("exc_00000000000000c2", "acme", "sbom.missing", store.ExceptionScope{Environment: "prod"}, base, 24*time.Hour)},
			map[string]string{"PS.3.2": report.PartiallySatisfied, "RV.1.1": report.PartiallySatisfied}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openSQLite(t)
			seed(t, s, tc.arts, tc.exs)
			r := build(t, s, report.Query{Framework: report.SSDF, Org: "acme", From: from, To: to})
			got := map[string]string{}
			for id := range tc.want {
				got[id] = byID(r, id).Status
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if tc.name == "accepted gaps do not fail" {
				q := byID(r, "RV.1.1")
				if q.Failing != 0 || q.Accepted != 1 || len(q.Exceptions) != 1 || q.Exceptions[0].Owner != "owner-exc_00000000000000c1" {
					t.Errorf("RV.1.1: failing %d, accepted %d, exceptions %+v; want 0, 1 and the exception with its owner",
						q.Failing, q.Accepted, q.Exceptions)
				}
			}
		})
	}
}

// TestReproducible renders every format twice from one store, and once from a second store
// holding the same data written in the opposite order, and from ClickHouse when it runs; all
// must be byte-identical.
func TestReproducible(t *testing.T) {
	a := openSQLite(t)
	seed(t, a, world, exceptions)
	b := openSQLite(t)
	rev := slices.Clone(world)
	slices.Reverse(rev)
	revEx := slices.Clone(exceptions)
	slices.Reverse(revEx)
	seed(t, b, rev, revEx)
	stores := map[string]fullStore{"sqlite-b": b}
	if os.Getenv(clickhousetest.EnvAddr) != "" || os.Getenv("CI") == "true" {
		stores["clickhouse"] = clickhousetest.Open(t)
		seed(t, stores["clickhouse"], rev, revEx)
	}
	for _, fw := range []string{report.SSDF, report.FedRAMP} {
		q := report.Query{Framework: fw, Org: "acme", From: from, To: to}
		for _, format := range report.Formats {
			first := render(t, build(t, a, q), format)
			if again := render(t, build(t, a, q), format); !bytes.Equal(first, again) {
				t.Errorf("%s %s: two runs differ", fw, format)
			}
			for name, s := range stores {
				if other := render(t, build(t, s, q), format); !bytes.Equal(first, other) {
					t.Errorf("%s %s: %s differs from sqlite-a:\n%s", fw, format, name, cmp.Diff(string(first), string(other)))
				}
			}
		}
	}
}

func oscalSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "testdata", "oscal", "oscal_complete_schema-1.1.2.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the OSCAL schema: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("oscal_complete_schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("oscal_complete_schema.json")
	if err != nil {
		t.Fatalf("compiling the OSCAL schema: %v", err)
	}
	return sch
}

// TestOSCALValid validates the three OSCAL documents of both frameworks against the OSCAL 1.1.2
// complete schema, and checks what they say.
func TestOSCALValid(t *testing.T) {
	sch := oscalSchema(t)
	// The schema must catch what a wrong document would say.
	bad, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"assessment-results": {"uuid": "not-a-uuid",
		"metadata": {"title": "t", "last-modified": "2026-06-15T00:00:00Z", "version": "1", "oscal-version": "1.1.2"},
		"import-ap": {"href": "assessment-plan.json"}, "results": []}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(bad); err == nil {
		t.Fatal("the OSCAL schema accepts a bad uuid and no results")
	}
	s := openSQLite(t)
	seed(t, s, world, exceptions)
	for _, fw := range []string{report.SSDF, report.FedRAMP} {
		r := build(t, s, report.Query{Framework: fw, Org: "acme", From: from, To: to})
		docs := map[string]any{}
		for _, format := range []string{report.FormatOSCALAR, report.FormatOSCALAP, report.FormatOSCALPOAM} {
			out := render(t, r, format)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("%s %s does not validate against OSCAL 1.1.2: %v", fw, format, err)
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			docs[format] = m
		}
		var ar struct {
			AR struct {
				ImportAP struct{ Href string } `json:"import-ap"`
				Results  []struct {
					Start, End string
					Findings   []struct {
						Target struct {
							TargetID string `json:"target-id"`
							Status   struct{ State string }
						}
					}
					Risks []struct{ Status string }
				}
			} `json:"assessment-results"`
		}
		b, _ := json.Marshal(docs[report.FormatOSCALAR])
		if err := json.Unmarshal(b, &ar); err != nil {
			t.Fatal(err)
		}
		res := ar.AR.Results[0]
		if ar.AR.ImportAP.Href != report.AssessmentPlanHref || res.Start != "2026-05-01T00:00:00Z" || res.End != "2026-06-15T00:00:00Z" {
			t.Errorf("%s: import-ap %q, start %s, end %s", fw, ar.AR.ImportAP.Href, res.Start, res.End)
		}
		if len(res.Findings) != len(r.Requirements) {
			t.Errorf("%s: %d findings, want %d", fw, len(res.Findings), len(r.Requirements))
		}
		for i, f := range res.Findings {
			want := "not-satisfied"
			if r.Requirements[i].Status == report.Satisfied {
				want = "satisfied"
			}
			if f.Target.Status.State != want {
				t.Errorf("%s: finding %s state %s, want %s", fw, f.Target.TargetID, f.Target.Status.State, want)
			}
		}
		var statuses []string
		for _, rk := range res.Risks {
			statuses = append(statuses, rk.Status)
		}
		// One accepted weakness (sbom.missing by exc_…a1) and three open gap codes.
		if diff := cmp.Diff([]string{"deviation-approved", "open", "open", "open"}, statuses); diff != "" {
			t.Errorf("%s: risk statuses (-want +got):\n%s", fw, diff)
		}
		if fw == report.FedRAMP && !strings.Contains(string(b), `"sr-4.1"`) {
			t.Errorf("fedramp: no finding for sr-4.1")
		}
		poam := docs[report.FormatOSCALPOAM].(map[string]any)["plan-of-action-and-milestones"].(map[string]any)
		if items := poam["poam-items"].([]any); len(items) != 4 {
			t.Errorf("%s: %d POA&M items, want 4 (1 accepted, 3 open)", fw, len(items))
		}
	}
}

// TestCSVAndHTML checks that the CSV parses with one row per requirement and that the HTML page
// carries the figures and lists the accepted exception, with no external resources.
func TestCSVAndHTML(t *testing.T) {
	s := openSQLite(t)
	seed(t, s, world, exceptions)
	r := build(t, s, report.Query{Framework: report.SSDF, Org: "acme", From: from, To: to})
	rows, err := csv.NewReader(bytes.NewReader(render(t, r, report.FormatCSV))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(rows) != 1+len(r.Requirements) || !slices.Equal(rows[0], report.CSVHeader) {
		t.Fatalf("CSV: %d rows, header %v", len(rows), rows[0])
	}
	for _, row := range rows[1:] {
		if row[1] == "PW.4.1" && (row[4] != report.PartiallySatisfied || row[6] != "2" || row[7] != "1" || row[8] != "2" ||
			!strings.Contains(row[14], "exc_00000000000000a1")) {
			t.Errorf("CSV PW.4.1 row: %q", row)
		}
	}
	page := string(render(t, r, report.FormatHTML))
	for _, want := range []string{
		`<td id="artifacts">4</td>`,
		`16: 0 satisfied, `,
		`<td class="partially-satisfied">partially-satisfied</td><td class="num">2/4</td><td class="num">1</td><td class="num">2</td>`,
		"exc_00000000000000a1", "owner-exc_00000000000000a1", "2026-05-01 00:00 UTC to 2026-06-15 00:00 UTC",
		"@media print",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<link", "src=", "http://", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML holds %q: it must need no external resource", bad)
		}
	}
}

// TestIsolation checks that an org's report holds none of another org's artifacts or
// exceptions.
func TestIsolation(t *testing.T) {
	s := openSQLite(t)
	seed(t, s, world, exceptions)
	for _, fw := range []string{report.SSDF, report.FedRAMP} {
		r := build(t, s, report.Query{Framework: fw, Org: "acme", From: from, To: to})
		for _, format := range report.Formats {
			out := string(render(t, r, format))
			for _, leak := range []string{"globex", string(digestOf("globex-app")), "exc_00000000000000b1"} {
				if strings.Contains(out, leak) {
					t.Errorf("%s %s of acme holds %q", fw, format, leak)
				}
			}
		}
		g := build(t, s, report.Query{Framework: fw, Org: "globex", From: from, To: to})
		if g.Summary.Artifacts != 1 || len(g.AcceptedWeaknesses) != 1 || g.AcceptedWeaknesses[0].Exception.ID != "exc_00000000000000b1" {
			t.Errorf("%s of globex: %d artifacts, accepted %+v", fw, g.Summary.Artifacts, g.AcceptedWeaknesses)
		}
	}
}

func TestQueryValidate(t *testing.T) {
	ok := report.Query{Framework: report.SSDF, Org: "acme", From: from, To: to}
	for _, tc := range []struct {
		name string
		edit func(*report.Query)
	}{
		{"unknown framework", func(q *report.Query) { q.Framework = "iso" }},
		{"no org", func(q *report.Query) { q.Org = "" }},
		{"every org", func(q *report.Query) { q.Org = "*" }},
		{"from after to", func(q *report.Query) { q.From = q.To.Add(time.Hour) }},
		{"too long", func(q *report.Query) { q.From = q.To.Add(-4 * 366 * 24 * time.Hour) }},
	} {
		q := ok
		tc.edit(&q)
		if err := q.Validate(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid query: %v", err)
	}
	d := report.Query{}.WithDefaults(time.Date(2026, 11, 29, 13, 45, 12, 0, time.UTC))
	if !d.To.Equal(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)) || !d.From.Equal(d.To.Add(-report.DefaultWindow)) {
		t.Errorf("default window %s to %s", d.From, d.To)
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, &report.Report{}, "pdf"); err == nil {
		t.Error("Render(pdf): no error")
	}
}
