package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// maxPages bounds how many pages listAll follows, so that a cursor that never ends fails the
// test instead of hanging it.
const maxPages = 1000

func levelPtr(l evidence.Level) *evidence.Level { return &l }

func mustList(t *testing.T, s store.Store, q store.ArtifactQuery) ([]store.ArtifactSummary, string) {
	t.Helper()
	items, next, err := s.ListArtifacts(ctxOf(t), q)
	if err != nil {
		t.Fatalf("ListArtifacts(%s): %v", describe(q), err)
	}
	if items == nil {
		t.Errorf("ListArtifacts(%s) returned nil items, want a non-nil slice", describe(q))
	}
	for _, a := range items {
		if a.Gaps == nil || a.Environments == nil {
			t.Errorf("ListArtifacts(%s): %s has Gaps %#v and Environments %#v, want non-nil slices",
				describe(q), a.Image, a.Gaps, a.Environments)
		}
	}
	return items, next
}

// listAll follows q's cursors to the last page and returns every item, failing t when a page
// other than the last is not full or a cursor does not move on.
func listAll(t *testing.T, s store.Store, q store.ArtifactQuery) []store.ArtifactSummary {
	t.Helper()
	all := []store.ArtifactSummary{}
	for range maxPages {
		items, next := mustList(t, s, q)
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) != q.PageSize() {
			t.Fatalf("ListArtifacts(%s): %d items and a next page, want a full page of %d", describe(q), len(items), q.PageSize())
		}
		if next == q.After {
			t.Fatalf("ListArtifacts(%s): the next page is this page", describe(q))
		}
		q.After = next
	}
	t.Fatalf("ListArtifacts(%s): more than %d pages", describe(q), maxPages)
	return nil
}

// mustWriteConcurrently writes evs from a few goroutines at once, as scorer replicas would, and
// fails t when a write fails. Half of the goroutines write through one store.GroupCommit, as
// the workers of one scorer do, so its batches go to the store's WriteEvaluations.
func mustWriteConcurrently(t *testing.T, s store.Store, evs []store.Evaluation) {
	t.Helper()
	const workers = 8
	grouped := store.NewGroupCommit(s, 4)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(evs) && errs[w] == nil; i += workers {
				writer := store.Writer(s)
				if w%2 == 0 {
					writer = grouped
				}
				if err := writer.WriteEvaluation(ctxOf(t), evs[i]); err != nil {
					errs[w] = fmt.Errorf("WriteEvaluation(%s): %w", evs[i].Evidence.Image, err)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// describe prints q with its level rather than a pointer.
func describe(q store.ArtifactQuery) string {
	var parts []string
	for _, f := range []struct{ name, value string }{
		{"org", q.Org}, {"team", q.Team}, {"env", q.Environment}, {"gap", q.Gap}, {"repo", q.Repository}, {"after", q.After},
	} {
		if f.value != "" {
			parts = append(parts, f.name+"="+f.value)
		}
	}
	if q.Level != nil {
		parts = append(parts, "level="+q.Level.String())
	}
	if q.IncludeEnded {
		parts = append(parts, "include_ended")
	}
	if q.Limit != 0 {
		parts = append(parts, fmt.Sprintf("limit=%d", q.Limit))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// digests returns the digests of items, in order.
func digests(items []store.ArtifactSummary) []evidence.Digest {
	out := make([]evidence.Digest, len(items))
	for i, a := range items {
		out[i] = a.Image.Digest
	}
	return out
}

// eachDetail collects what EachArtifact visits, calling the store from fn as a caller may.
func eachDetail(t *testing.T, s store.Store) []store.ArtifactDetail {
	t.Helper()
	var got []store.ArtifactDetail
	err := s.EachArtifact(ctxOf(t), func(a store.ArtifactDetail) error {
		if _, err := s.CurrentScores(ctxOf(t), a.Image.Digest); err != nil {
			return fmt.Errorf("calling the store from fn: %w", err)
		}
		got = append(got, a)
		return nil
	})
	if err != nil {
		t.Fatalf("EachArtifact: %v", err)
	}
	return got
}

// coverageOf counts items as Coverage does.
func coverageOf(items []store.ArtifactSummary) store.Coverage {
	c := coverage(0, 0, 0, 0, 0, 0)
	for _, a := range items {
		c.Total++
		c.ByLevel[a.SLSALevel.String()]++
		if a.VerifiedProvenance {
			c.VerifiedProvenance++
		}
		if len(a.Gaps) > 0 {
			c.WithGaps++
		}
	}
	return c
}

func testListEmpty(t *testing.T, s store.Store) {
	queries := []store.ArtifactQuery{
		{},
		{IncludeEnded: true},
		{Org: "acme", Team: "pay", Environment: "prod"},
		{Level: levelPtr(0)},
		{Gap: "provenance.missing", Repository: "registry.example.com/apps/x", Limit: 1},
	}
	check := func(when string) {
		for _, q := range queries {
			items, next := mustList(t, s, q)
			if len(items) != 0 || next != "" {
				t.Errorf("%s: ListArtifacts(%s) = %d items, next %q; want none and no next page", when, describe(q), len(items), next)
			}
		}
		if got := eachDetail(t, s); len(got) != 0 {
			t.Errorf("%s: EachArtifact visited %d artifacts, want none", when, len(got))
		}
	}
	check("empty store")
	// Collected but never deployed: not listed.
	mustWrite(t, s, store.Evaluation{Evidence: collection(imageOf("never-deployed"), base)})
	check("artifact never deployed")
}

// testListPaging pages through 250 running artifacts (and 20 ended ones) with several page sizes.
func testListPaging(t *testing.T, s store.Store) {
	const running, endedN = 250, 20
	var want, wantEnded []evidence.Digest
	var evs []store.Evaluation
	for i := range running + endedN {
		img := imageOf(fmt.Sprintf("paging/%03d", i))
		dep := deployment(img, "acme", "pay", "prod", "svc", base)
		if i >= running {
			dep = ended(dep, base, base.Add(time.Minute))
			wantEnded = append(wantEnded, img.Digest)
		} else {
			want = append(want, img.Digest)
		}
		evs = append(evs, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep},
			Scores: []evidence.Score{scoreFor(dep, "eval-paging", base, evidence.Level(i%4), i%2 == 0)}})
	}
	mustWriteConcurrently(t, s, evs)
	slices.Sort(want)
	wantAll := slices.Sorted(slices.Values(append(slices.Clone(want), wantEnded...)))

	// Limit 100: pages of 100, 100 and 50; only the last has no next page.
	q := store.ArtifactQuery{Limit: 100}
	var got []evidence.Digest
	for i, size := range []int{100, 100, 50} {
		items, next := mustList(t, s, q)
		if len(items) != size || (next == "") != (i == 2) {
			t.Fatalf("page %d: %d items, next %q; want %d items and a next page only before the last", i+1, len(items), next, size)
		}
		got = append(got, digests(items)...)
		q.After = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("artifacts over three pages of 100 (-want +got):\n%s", diff)
	}
	// The default page is 100 items; a page size that divides the total ends without an
	// empty page.
	if items, next := mustList(t, s, store.ArtifactQuery{}); len(items) != store.DefaultArtifactLimit || next == "" {
		t.Errorf("ListArtifacts({}) = %d items, next %q; want %d and a next page", len(items), next, store.DefaultArtifactLimit)
	}
	for _, q := range []store.ArtifactQuery{
		{Limit: 125},
		{Limit: 30},
		{Limit: store.MaxArtifactLimit},
		{Limit: 7, Org: "acme", Level: levelPtr(2)},
	} {
		wantQ := want
		if q.Level != nil { // every fourth has level 2: 2, 6, 10, ...
			wantQ = nil
			for i := 2; i < running; i += 4 {
				wantQ = append(wantQ, imageOf(fmt.Sprintf("paging/%03d", i)).Digest)
			}
			slices.Sort(wantQ)
		}
		if diff := cmp.Diff(wantQ, digests(listAll(t, s, q))); diff != "" {
			t.Errorf("ListArtifacts(%s) over all pages (-want +got):\n%s", describe(q), diff)
		}
	}
	if diff := cmp.Diff(wantAll, digests(listAll(t, s, store.ArtifactQuery{Limit: 100, IncludeEnded: true}))); diff != "" {
		t.Errorf("ListArtifacts(include_ended) over all pages (-want +got):\n%s", diff)
	}
	var visited []evidence.Digest
	for _, a := range eachDetail(t, s) {
		visited = append(visited, a.Image.Digest)
	}
	if diff := cmp.Diff(want, visited); diff != "" {
		t.Errorf("EachArtifact visits (-want +got):\n%s", diff)
	}
}

// testListFilters lists the same artifacts with each filter alone and combined.
func testListFilters(t *testing.T, s store.Store) {
	shop := "registry.example.com/apps/shop" // the repository of a1 and a3
	imgs := map[string]evidence.ImageRef{}
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"} {
		imgs[name] = imageOf("list/" + name)
	}
	for _, name := range []string{"a1", "a3"} {
		imgs[name] = evidence.ImageRef{Repository: shop, Digest: imgs[name].Digest}
	}
	dep := func(name, org, team, env, workload string) evidence.Deployment {
		return deployment(imgs[name], org, team, env, workload, base)
	}
	later := base.Add(time.Hour)
	eval := func(name string, deps []evidence.Deployment, scores ...evidence.Score) store.Evaluation {
		return store.Evaluation{Evidence: collection(imgs[name], base, provenanceDoc(imgs[name], "list-"+name, true)),
			Deployments: deps, Scores: scores}
	}
	a5prod, a5dev := dep("a5", "acme", "web", "prod", "svc"), dep("a5", "acme", "web", "dev", "svc")
	a6 := dep("a6", "acme", "pay", "prod", "svc")
	a7prod, a7staging := dep("a7", "acme", "pay", "prod", "svc"), dep("a7", "acme", "pay", "staging", "svc")
	a8 := dep("a8", "acme", "pay", "prod", "svc")
	a9api, a9worker := dep("a9", "acme", "pay", "prod", "api"), dep("a9", "acme", "pay", "prod", "worker")
	a8newer := scoreFor(a8, "eval-a8-new", later, 3, true)
	a10 := dep("a10", "acme", "pay", "prod", "svc")
	evs := []store.Evaluation{
		eval("a1", []evidence.Deployment{dep("a1", "acme", "pay", "prod", "svc")},
			scoreFor(dep("a1", "acme", "pay", "prod", "svc"), "eval-a1", base, 3, true)),
		eval("a2", []evidence.Deployment{dep("a2", "acme", "pay", "staging", "svc")},
			scoreFor(dep("a2", "acme", "pay", "staging", "svc"), "eval-a2", base, 1, false, "provenance.unsigned")),
		eval("a3", []evidence.Deployment{dep("a3", "acme", "web", "prod", "svc")},
			scoreFor(dep("a3", "acme", "web", "prod", "svc"), "eval-a3", base, 2, true, "level.below_required")),
		eval("a4", []evidence.Deployment{dep("a4", "globex", "core", "prod", "svc")}), // deployed, unscored
		eval("a5", []evidence.Deployment{a5prod, a5dev},
			scoreFor(a5prod, "eval-a5", base, 0, false, "provenance.missing", "sbom.missing"),
			scoreFor(a5dev, "eval-a5", base, 2, true, "sbom.missing")),
		// Ran in prod only, and ended there.
		eval("a6", []evidence.Deployment{a6}, scoreFor(a6, "eval-a6", base, 2, true, "sbom.missing")),
		eval("a6", []evidence.Deployment{ended(a6, later, later)}),
		// Runs in prod; ended in staging.
		eval("a7", []evidence.Deployment{a7prod, a7staging},
			scoreFor(a7prod, "eval-a7", base, 1, false),
			scoreFor(a7staging, "eval-a7", base, 3, true, "tlog.missing")),
		eval("a7", []evidence.Deployment{ended(a7staging, later, later)}),
		// Re-scored without its gap; the older evaluation is delivered last.
		eval("a8", []evidence.Deployment{a8}, a8newer),
		eval("a8", []evidence.Deployment{a8}, scoreFor(a8, "eval-a8-old", base, 1, false, "provenance.unsigned")),
		// Re-scored without its gap, in order.
		eval("a10", []evidence.Deployment{a10}, scoreFor(a10, "eval-a10-1", base, 1, false, "source.unpinned")),
		eval("a10", []evidence.Deployment{a10}, scoreFor(a10, "eval-a10-2", later, 2, true)),
		// Two workloads in one environment; one of them ended.
		eval("a9", []evidence.Deployment{a9api, a9worker},
			scoreFor(a9api, "eval-a9", base, 2, true)),
		eval("a9", []evidence.Deployment{ended(a9worker, later, later)}),
	}
	// Every evaluation is delivered twice.
	mustWrite(t, s, evs...)
	mustWrite(t, s, evs...)

	sum := func(name string, level evidence.Level, risk int, verified bool, gaps []string, envs ...string) store.ArtifactSummary {
		return store.ArtifactSummary{Image: imgs[name], SLSALevel: level, Risk: risk, VerifiedProvenance: verified,
			Gaps: gaps, Environments: envs, CollectedAt: base}
	}
	// Each artifact summarised over all its running environments, then in one environment.
	all := map[string]store.ArtifactSummary{
		"a1":  sum("a1", 3, 0, true, nil, "prod"),
		"a2":  sum("a2", 1, 10, false, []string{"provenance.unsigned"}, "staging"),
		"a3":  sum("a3", 2, 10, true, []string{"level.below_required"}, "prod"),
		"a4":  sum("a4", 0, 0, false, nil, "prod"),
		"a5":  sum("a5", 2, 20, true, []string{"provenance.missing", "sbom.missing"}, "dev", "prod"),
		"a6":  sum("a6", 2, 10, true, []string{"sbom.missing"}, "prod"),
		"a7":  sum("a7", 1, 0, false, nil, "prod"),
		"a8":  sum("a8", 3, 0, true, nil, "prod"),
		"a9":  sum("a9", 2, 0, true, nil, "prod"),
		"a10": sum("a10", 2, 0, true, nil, "prod"),
	}
	a5inProd := sum("a5", 0, 20, false, []string{"provenance.missing", "sbom.missing"}, "prod")
	a5inDev := sum("a5", 2, 10, true, []string{"sbom.missing"}, "dev")
	a7inStaging := sum("a7", 3, 10, true, []string{"tlog.missing"}, "staging")
	items := func(names ...string) []store.ArtifactSummary {
		var out []store.ArtifactSummary
		for _, n := range names {
			out = append(out, all[n])
		}
		return out
	}
	tests := []struct {
		q    store.ArtifactQuery
		want []store.ArtifactSummary
	}{
		{store.ArtifactQuery{}, items("a1", "a2", "a3", "a4", "a5", "a7", "a8", "a9", "a10")},
		{store.ArtifactQuery{Org: "acme"}, items("a1", "a2", "a3", "a5", "a7", "a8", "a9", "a10")},
		{store.ArtifactQuery{Org: "globex"}, items("a4")},
		{store.ArtifactQuery{Org: "nobody"}, nil},
		{store.ArtifactQuery{Team: "web"}, items("a3", "a5")},
		// In prod alone a5 is L0 and unverified; a7's staging score does not count.
		{store.ArtifactQuery{Environment: "prod"}, append(items("a1", "a3", "a4", "a7", "a8", "a9", "a10"), a5inProd)},
		{store.ArtifactQuery{Environment: "staging"}, items("a2")},
		{store.ArtifactQuery{Org: "acme", Team: "web", Environment: "dev"}, []store.ArtifactSummary{a5inDev}},
		{store.ArtifactQuery{Team: "pay", Environment: "prod"}, items("a1", "a7", "a8", "a9", "a10")},
		// The highest current level: a5 is L2 by its dev score, a8 and a10 are at the level of
		// their newer evaluations.
		{store.ArtifactQuery{Level: levelPtr(2)}, items("a3", "a5", "a9", "a10")},
		{store.ArtifactQuery{Level: levelPtr(3)}, items("a1", "a8")},
		{store.ArtifactQuery{Level: levelPtr(1)}, items("a2", "a7")},
		{store.ArtifactQuery{Level: levelPtr(0)}, items("a4")},
		{store.ArtifactQuery{Level: levelPtr(0), Environment: "prod"}, append(items("a4"), a5inProd)},
		{store.ArtifactQuery{Level: levelPtr(2), Team: "web"}, items("a3", "a5")},
		// Current gaps in the matching environments: a8's and a10's old gaps are not current,
		// a7's staging gap ended with its deployment.
		{store.ArtifactQuery{Gap: "sbom.missing"}, items("a5")},
		{store.ArtifactQuery{Gap: "sbom.missing", Environment: "dev"}, []store.ArtifactSummary{a5inDev}},
		{store.ArtifactQuery{Gap: "provenance.missing", Environment: "dev"}, nil},
		{store.ArtifactQuery{Gap: "provenance.unsigned"}, items("a2")},
		{store.ArtifactQuery{Gap: "source.unpinned"}, nil},
		{store.ArtifactQuery{Gap: "tlog.missing"}, nil},
		{store.ArtifactQuery{Repository: shop}, items("a1", "a3")},
		{store.ArtifactQuery{Repository: shop, Level: levelPtr(3)}, items("a1")},
		{store.ArtifactQuery{Repository: imgs["a4"].Repository, Org: "acme"}, nil},
		{store.ArtifactQuery{Org: "acme", Team: "pay", Environment: "prod", Level: levelPtr(3), Repository: shop}, items("a1")},
		{store.ArtifactQuery{Org: "acme", Environment: "staging", Level: levelPtr(1), Gap: "provenance.unsigned"}, items("a2")},
		// Ended: a6 only with IncludeEnded, over where it ran; a7 stays summarised over where
		// it runs unless only staging matches.
		{store.ArtifactQuery{IncludeEnded: true}, items("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10")},
		{store.ArtifactQuery{IncludeEnded: true, Environment: "staging"}, []store.ArtifactSummary{all["a2"], a7inStaging}},
		{store.ArtifactQuery{IncludeEnded: true, Gap: "sbom.missing"}, items("a5", "a6")},
		{store.ArtifactQuery{IncludeEnded: true, Gap: "tlog.missing"}, nil},
		{store.ArtifactQuery{IncludeEnded: true, Level: levelPtr(3), Environment: "staging"}, []store.ArtifactSummary{a7inStaging}},
	}
	for _, tt := range tests {
		t.Run(describe(tt.q), func(t *testing.T) {
			slices.SortFunc(tt.want, func(a, b store.ArtifactSummary) int {
				return strings.Compare(string(a.Image.Digest), string(b.Image.Digest))
			})
			got, next := mustList(t, s, tt.q)
			if next != "" {
				t.Errorf("ListArtifacts: next %q, want the last page", next)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("ListArtifacts (-want +got):\n%s", diff)
			}
			// One item a page: the same items.
			paged := tt.q
			paged.Limit = 1
			if diff := cmp.Diff(tt.want, listAll(t, s, paged), cmpOpts); diff != "" {
				t.Errorf("ListArtifacts one item a page (-want +got):\n%s", diff)
			}
			// Without the filters Coverage lacks, the listing counts as Coverage does.
			if tt.q.Level == nil && tt.q.Gap == "" && tt.q.Repository == "" && !tt.q.IncludeEnded {
				cq := store.CoverageQuery{Org: tt.q.Org, Team: tt.q.Team, Environment: tt.q.Environment}
				if diff := cmp.Diff(mustCoverage(t, s, cq), coverageOf(got)); diff != "" {
					t.Errorf("Coverage(%+v) and the listing disagree (-coverage +listing):\n%s", cq, diff)
				}
			}
		})
	}

	// EachArtifact visits the running artifacts, not a6, with their details and current scores.
	visited := eachDetail(t, s)
	want := digests(items("a1", "a2", "a3", "a4", "a5", "a7", "a8", "a9", "a10"))
	slices.Sort(want)
	var got []evidence.Digest
	for _, a := range visited {
		got = append(got, a.Image.Digest)
		if diff := cmp.Diff(mustArtifact(t, s, a.Image.Digest), a, cmpOpts); diff != "" {
			t.Errorf("EachArtifact detail of %s (-Artifact +EachArtifact):\n%s", a.Image, diff)
		}
		if a.Image.Digest == imgs["a8"].Digest {
			if diff := cmp.Diff([]evidence.Score{a8newer}, a.Scores, cmpOpts); diff != "" {
				t.Errorf("EachArtifact scores of a8 (-want +got):\n%s", diff)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EachArtifact visits (-want +got):\n%s", diff)
	}
}

func testListInvalid(t *testing.T, s store.Store) {
	img := imageOf("list-invalid")
	dep := deployment(img, "acme", "pay", "prod", "svc", base)
	mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}})
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name string
		q    store.ArtifactQuery
	}{
		{"negative limit", store.ArtifactQuery{Limit: -1}},
		{"limit over the maximum", store.ArtifactQuery{Limit: store.MaxArtifactLimit + 1}},
		{"cursor not base64url", store.ArtifactQuery{After: "not a cursor!"}},
		{"cursor a raw digest", store.ArtifactQuery{After: string(img.Digest)}},
		{"cursor not a digest", store.ArtifactQuery{After: b64([]byte("sha256:abc"))}},
		{"cursor padded", store.ArtifactQuery{After: base64.URLEncoding.EncodeToString([]byte(img.Digest))}},
		{"level over 3", store.ArtifactQuery{Level: levelPtr(4)}},
		{"negative level", store.ArtifactQuery{Level: levelPtr(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.q.Validate(); !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Validate() = %v, want an error wrapping evidence.ErrInvalid", err)
			}
			items, next, err := s.ListArtifacts(ctxOf(t), tt.q)
			if !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("ListArtifacts(%s) = %d items, next %q, error %v; want an error wrapping evidence.ErrInvalid",
					describe(tt.q), len(items), next, err)
			}
		})
	}
	// The bounds themselves are valid, and so is a cursor after any digest.
	for _, q := range []store.ArtifactQuery{
		{Limit: 1}, {Limit: store.MaxArtifactLimit}, {After: store.ArtifactCursor(digestOf("anything"))},
	} {
		if _, _, err := s.ListArtifacts(ctxOf(t), q); err != nil {
			t.Errorf("ListArtifacts(%s): %v", describe(q), err)
		}
	}
}

// testEachArtifactStops proves EachArtifact returns fn's first error and calls fn no more.
func testEachArtifactStops(t *testing.T, s store.Store) {
	for i := range 3 {
		img := imageOf(fmt.Sprintf("each-stops/%d", i))
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, base),
			Deployments: []evidence.Deployment{deployment(img, "acme", "pay", "prod", "svc", base)}})
	}
	stop := errors.New("stop")
	calls := 0
	err := s.EachArtifact(ctxOf(t), func(store.ArtifactDetail) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("EachArtifact with fn failing on its second call: error %v after %d calls; want fn's error after 2", err, calls)
	}
}
