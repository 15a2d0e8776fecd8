package storetest

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// component returns a component of the SBOM document doc (as sbomDoc names it).
func component(doc, name, version, purl string, licenses ...string) store.Component {
	return store.Component{SBOM: digestOf("doc/" + doc), Name: name, Version: version, PURL: purl, Type: "library",
		Licenses: licenses}
}

const (
	openssl301 = "pkg:deb/debian/openssl@3.0.1"
	openssl302 = "pkg:deb/debian/openssl@3.0.2"
)

func mustComponents(t *testing.T, s store.Store, q store.ComponentQuery) ([]store.ComponentHit, string) {
	t.Helper()
	items, next, err := s.Components(ctxOf(t), q)
	if err != nil {
		t.Fatalf("Components(%+v): %v", q, err)
	}
	if items == nil {
		t.Errorf("Components(%+v) returned nil items, want a non-nil slice", q)
	}
	for _, h := range items {
		if h.Gaps == nil {
			t.Errorf("Components(%+v): hit %s in %s has nil Gaps, want a non-nil slice", q, h.Image, h.Environment)
		}
		if len(h.SBOMs) == 0 || !slices.IsSorted(h.SBOMs) || len(slices.Compact(slices.Clone(h.SBOMs))) != len(h.SBOMs) {
			t.Errorf("Components(%+v): hit %s in %s has SBOMs %v, want distinct documents, sorted", q, h.Image,
				h.Environment, h.SBOMs)
		}
	}
	return items, next
}

// allComponents follows q's cursors to the last page and returns every hit.
func allComponents(t *testing.T, s store.Store, q store.ComponentQuery) []store.ComponentHit {
	t.Helper()
	all := []store.ComponentHit{}
	for range maxPages {
		items, next := mustComponents(t, s, q)
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) != q.PageSize() || next == q.After {
			t.Fatalf("Components(%+v): %d items and next %q, want a full page and a new cursor", q, len(items), next)
		}
		q.After = next
	}
	t.Fatalf("Components(%+v): more than %d pages", q, maxPages)
	return nil
}

// hitPlace is what identifies a hit in the expectations: component version, artifact name and
// environment.
type hitPlace struct{ Version, Artifact, Env string }

// places returns where hits are, naming artifacts as names maps their digests.
func places(hits []store.ComponentHit, names map[evidence.Digest]string) []hitPlace {
	out := []hitPlace{}
	for _, h := range hits {
		out = append(out, hitPlace{h.Version, names[h.Image.Digest], h.Environment})
	}
	return out
}

// componentWorld writes the artifacts of the component tests and returns their evaluations by
// name, and the names of their digests.
//
//	a: documents a-sbom (openssl 3.0.1, zlib) and a-spdx (openssl 3.0.1 again, with another type
//	   and licenses); runs in prod (api and worker) and staging for acme/pay; scored L2 with gaps
//	   in prod, L3 in staging.
//	b: document b-sbom (openssl 3.0.2, listed twice); runs in prod for globex/core; unscored.
//	c: shares document a-sbom, whose components its evaluation does not repeat; runs in prod
//	   for acme/web; its dev deployment ended.
//	d: an older collection held d-sbom (openssl 3.0.1); the latest does not.
//	e: document e-sbom (openssl 3.0.1); collected, never deployed.
func componentWorld(t *testing.T, s store.Store) (map[string]store.Evaluation, map[evidence.Digest]string) {
	evs := map[string]store.Evaluation{}
	names := map[evidence.Digest]string{}
	img := func(name string) evidence.ImageRef {
		i := imageOf("components/" + name)
		names[i.Digest] = name
		return i
	}

	a := img("a")
	spdxOpenssl := component("a-spdx", "openssl", "3.0.1", openssl301, "Apache-2.0", "OpenSSL")
	spdxOpenssl.Type = "application"
	aProd := deployment(a, "acme", "pay", "prod", "api", base)
	aWorker := deployment(a, "acme", "pay", "prod", "worker", base)
	aStaging := deployment(a, "acme", "pay", "staging", "api", base)
	evs["a"] = store.Evaluation{
		Evidence:    collection(a, base, provenanceDoc(a, "a-prov", true), sbomDoc("a-sbom"), sbomDoc("a-spdx")),
		Deployments: []evidence.Deployment{aWorker, aProd, aStaging},
		Scores: []evidence.Score{
			scoreFor(aProd, "eval-a", base, 2, true, "sbom.unsigned", "level.below_required", "sbom.unsigned"),
			scoreFor(aStaging, "eval-a", base, 3, true),
		},
		Components: []store.Component{
			component("a-sbom", "openssl", "3.0.1", openssl301, "Apache-2.0"),
			component("a-sbom", "zlib", "1.2.13", "pkg:deb/debian/zlib@1.2.13", "Zlib"),
			spdxOpenssl,
		},
	}

	b := img("b")
	bProd := deployment(b, "globex", "core", "prod", "svc", base)
	evs["b"] = store.Evaluation{
		Evidence:    collection(b, base, sbomDoc("b-sbom")),
		Deployments: []evidence.Deployment{bProd},
		Components: []store.Component{
			component("b-sbom", "openssl", "3.0.2", openssl302),
			component("b-sbom", "openssl", "3.0.2", openssl302, "listed twice: the first is kept"),
		},
	}

	c := img("c")
	cProd := deployment(c, "acme", "web", "prod", "shop", base)
	cDev := ended(deployment(c, "acme", "web", "dev", "shop", base), base, base.Add(time.Minute))
	evs["c"] = store.Evaluation{
		Evidence:    collection(c, base, sbomDoc("a-sbom")),
		Deployments: []evidence.Deployment{cProd, cDev},
		Scores:      []evidence.Score{scoreFor(cProd, "eval-c", base, 1, false, "provenance.missing")},
	}

	d := img("d")
	dProd := deployment(d, "acme", "pay", "prod", "old", base)
	evs["d-old"] = store.Evaluation{
		Evidence:    collection(d, base, sbomDoc("d-sbom")),
		Deployments: []evidence.Deployment{dProd},
		Components:  []store.Component{component("d-sbom", "openssl", "3.0.1", openssl301)},
	}
	evs["d"] = store.Evaluation{Evidence: collection(d, base.Add(time.Hour), provenanceDoc(d, "d-prov", true)),
		Deployments: []evidence.Deployment{dProd}}

	e := img("e")
	evs["e"] = store.Evaluation{
		Evidence:   collection(e, base, sbomDoc("e-sbom")),
		Components: []store.Component{component("e-sbom", "openssl", "3.0.1", openssl301)},
	}
	// a before c: c relies on a-sbom's components being stored.
	for _, name := range []string{"a", "b", "c", "d-old", "d", "e"} {
		mustWrite(t, s, evs[name])
	}
	return evs, names
}

func testComponentSearch(t *testing.T, s store.Store) {
	evs, names := componentWorld(t, s)
	a := evs["a"].Evidence.Image
	aSBOM, aSPDX := digestOf("doc/a-sbom"), digestOf("doc/a-spdx")

	// The full hit of openssl 3.0.1 in a's prod: one, though both of a's SBOM documents list
	// it, naming both, with the type and licenses of the first; the api deployment (before the
	// worker), the prod score's level and distinct gap codes, sorted.
	docs := map[evidence.Digest]store.Component{aSBOM: evs["a"].Components[0], aSPDX: evs["a"].Components[2]}
	sboms := []evidence.Digest{aSBOM, aSPDX}
	slices.Sort(sboms)
	first := docs[sboms[0]]
	want := store.ComponentHit{
		Name:        "openssl",
		Version:     "3.0.1",
		PURL:        openssl301,
		Type:        first.Type,
		Licenses:    first.Licenses,
		SBOMs:       sboms,
		Image:       a,
		Environment: "prod",
		Org:         "acme",
		Team:        "pay",
		Cluster:     "prod-cluster",
		Namespace:   "pay",
		Workload:    "api",
		SLSALevel:   2,
		Gaps:        []string{"level.below_required", "sbom.unsigned"},
	}
	hits, next := mustComponents(t, s, store.ComponentQuery{PURL: openssl301, Environment: "prod", Team: "pay"})
	if diff := cmp.Diff([]store.ComponentHit{want}, hits, cmpOpts); diff != "" || next != "" {
		t.Errorf("Components(purl, prod, pay) (-want +got):\n%s\nnext %q, want none", diff, next)
	}
	// c holds one of the two documents.
	hits, _ = mustComponents(t, s, store.ComponentQuery{PURL: openssl301, Team: "web"})
	if len(hits) != 1 || !slices.Equal(hits[0].SBOMs, []evidence.Digest{aSBOM}) {
		t.Errorf("Components(purl, web) = %+v, want one hit, of c, listed by a-sbom", hits)
	}

	// Where each search finds components. Documents and digests are hashes, so the expected
	// places are compared as sets, and the order is checked against the hits' keys.
	tests := []struct {
		name string
		q    store.ComponentQuery
		want []hitPlace
	}{
		{"by purl", store.ComponentQuery{PURL: openssl301}, []hitPlace{
			{"3.0.1", "a", "prod"}, {"3.0.1", "a", "staging"}, // a-sbom and a-spdx
			{"3.0.1", "c", "prod"}, // a-sbom, shared; c's dev deployment ended
		}},
		{"by name", store.ComponentQuery{Name: "openssl"}, []hitPlace{
			{"3.0.1", "a", "prod"}, {"3.0.1", "a", "staging"},
			{"3.0.1", "c", "prod"},
			{"3.0.2", "b", "prod"},
		}},
		{"by name and version", store.ComponentQuery{Name: "openssl", Version: "3.0.2"}, []hitPlace{{"3.0.2", "b", "prod"}}},
		{"by another purl", store.ComponentQuery{PURL: "pkg:deb/debian/zlib@1.2.13"}, []hitPlace{
			{"1.2.13", "a", "prod"}, {"1.2.13", "a", "staging"}, {"1.2.13", "c", "prod"},
		}},
		{"by org", store.ComponentQuery{Name: "openssl", Org: "globex"}, []hitPlace{{"3.0.2", "b", "prod"}}},
		{"by team", store.ComponentQuery{Name: "openssl", Team: "web"}, []hitPlace{{"3.0.1", "c", "prod"}}},
		{"by environment", store.ComponentQuery{Name: "openssl", Environment: "staging"}, []hitPlace{
			{"3.0.1", "a", "staging"},
		}},
		{"ended deployment", store.ComponentQuery{Name: "openssl", Environment: "dev"}, []hitPlace{}},
		{"unknown version", store.ComponentQuery{Name: "openssl", Version: "9"}, []hitPlace{}},
		{"unknown purl", store.ComponentQuery{PURL: "pkg:deb/debian/openssl"}, []hitPlace{}},
		{"name is not purl", store.ComponentQuery{PURL: "openssl"}, []hitPlace{}},
		{"version without its name", store.ComponentQuery{Name: "zlib", Version: "3.0.1"}, []hitPlace{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := allComponents(t, s, tt.q)
			got := places(hits, names)
			sortPlaces := func(ps []hitPlace) []hitPlace {
				ps = slices.Clone(ps)
				slices.SortFunc(ps, func(x, y hitPlace) int {
					return cmpStrings([]string{x.Version, x.Artifact, x.Env}, []string{y.Version, y.Artifact, y.Env})
				})
				return ps
			}
			if diff := cmp.Diff(sortPlaces(tt.want), sortPlaces(got)); diff != "" {
				t.Errorf("Components(%+v) places (-want +got):\n%s", tt.q, diff)
			}
			if !slices.IsSortedFunc(hits, func(x, y store.ComponentHit) int { return compareKeys(x.Key(), y.Key()) }) {
				t.Errorf("Components(%+v) are not in key order: %v", tt.q, got)
			}
			for i := 1; i < len(hits); i++ {
				if hits[i-1].Key() == hits[i].Key() {
					t.Errorf("Components(%+v): hit %d repeats hit %d: %+v", tt.q, i, i-1, hits[i].Key())
				}
			}
			// Every page size gives the same hits.
			for _, limit := range []int{1, 2, 4} {
				q := tt.q
				q.Limit = limit
				if diff := cmp.Diff(hits, allComponents(t, s, q), cmpOpts); diff != "" {
					t.Errorf("Components(%+v) over pages of %d (-all at once +paged):\n%s", tt.q, limit, diff)
				}
			}
		})
	}

	// Writing every evaluation again changes nothing.
	before := allComponents(t, s, store.ComponentQuery{Name: "openssl"})
	for _, name := range []string{"e", "d", "d-old", "c", "b", "a"} {
		mustWrite(t, s, evs[name])
	}
	if diff := cmp.Diff(before, allComponents(t, s, store.ComponentQuery{Name: "openssl"}), cmpOpts); diff != "" {
		t.Errorf("Components after writing everything again (-before +after):\n%s", diff)
	}
	// The licenses of the first listing of b's openssl are kept.
	if hits, _ := mustComponents(t, s, store.ComponentQuery{PURL: openssl302}); len(hits) != 1 || len(hits[0].Licenses) != 0 {
		t.Errorf("Components(%s) = %+v, want one hit without licenses", openssl302, hits)
	}

	// e is deployed now: its document's components count.
	e := evs["e"]
	e.Deployments = []evidence.Deployment{deployment(e.Evidence.Image, "acme", "pay", "prod", "late", base)}
	mustWrite(t, s, e)
	if got := places(allComponents(t, s, store.ComponentQuery{PURL: openssl301, Team: "pay", Environment: "prod"}), names); len(got) != 2 {
		t.Errorf("Components(%s in pay's prod) after deploying e = %v, want a and e", openssl301, got)
	}

	// a's staging deployment ends: its components no longer run there.
	a2 := evs["a"]
	a2.Deployments = []evidence.Deployment{ended(a2.Deployments[2], base.Add(time.Hour), base.Add(time.Hour))}
	a2.Scores = nil
	mustWrite(t, s, a2)
	if got := places(allComponents(t, s, store.ComponentQuery{PURL: openssl301, Environment: "staging"}), names); len(got) != 0 {
		t.Errorf("Components(%s in staging) after a's deployment there ended = %v, want none", openssl301, got)
	}
}

// compareKeys orders component keys as a search does.
func compareKeys(a, b store.ComponentKey) int {
	return cmpStrings([]string{a.Name, a.Version, a.PURL, string(a.Digest), a.Environment},
		[]string{b.Name, b.Version, b.PURL, string(b.Digest), b.Environment})
}

// cmpStrings compares a and b element by element.
func cmpStrings(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func testComponentsInvalid(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		q    store.ComponentQuery
	}{
		{"nothing asked", store.ComponentQuery{Org: "acme"}},
		{"purl and name", store.ComponentQuery{PURL: openssl301, Name: "openssl"}},
		{"purl and version", store.ComponentQuery{PURL: openssl301, Version: "3.0.1"}},
		{"version alone", store.ComponentQuery{Version: "3.0.1"}},
		{"negative limit", store.ComponentQuery{Name: "openssl", Limit: -1}},
		{"limit over the maximum", store.ComponentQuery{Name: "openssl", Limit: store.MaxPageLimit + 1}},
		{"cursor not base64url", store.ComponentQuery{Name: "openssl", After: "not a cursor!"}},
		{"cursor of a gap feed", store.ComponentQuery{Name: "openssl", After: store.GapKey{OpenedAt: 1}.Cursor()}},
		// Hits were once keyed by their document too.
		{"cursor naming a document", store.ComponentQuery{Name: "openssl", After: base64.RawURLEncoding.EncodeToString(
			[]byte(`["openssl","3.0.1","","` + string(digestOf("doc/a-sbom")) + `","` + string(digestOf("a")) + `","prod"]`))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Components(ctxOf(t), tt.q); !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Components(%+v) error = %v, want one wrapping evidence.ErrInvalid", tt.q, err)
			}
		})
	}
	img := imageOf("components-invalid")
	valid := store.Evaluation{Evidence: collection(img, base, sbomDoc("inv-sbom")),
		Components: []store.Component{component("inv-sbom", "openssl", "3.0.1", openssl301)}}
	for name, mutate := range map[string]func(*store.Evaluation){
		"document not in the evidence set": func(ev *store.Evaluation) { ev.Components[0].SBOM = digestOf("doc/elsewhere") },
		"document not a digest":            func(ev *store.Evaluation) { ev.Components[0].SBOM = "sbom" },
		"neither name nor purl":            func(ev *store.Evaluation) { ev.Components[0].Name, ev.Components[0].PURL = "", "" },
	} {
		ev := valid
		ev.Components = slices.Clone(valid.Components)
		mutate(&ev)
		if err := s.WriteEvaluation(ctxOf(t), ev); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("WriteEvaluation with a component whose %s: error = %v, want one wrapping evidence.ErrInvalid", name, err)
		}
	}
	mustWrite(t, s, valid)
	// A purl alone is enough.
	purlOnly := valid
	purlOnly.Components = []store.Component{{SBOM: digestOf("doc/inv-sbom"), PURL: "pkg:generic/thing@1"}}
	mustWrite(t, s, purlOnly)
	if _, _, err := s.Components(ctxOf(t), store.ComponentQuery{Name: "openssl",
		After: store.ComponentKey{Name: "openssl", Digest: img.Digest}.Cursor()}); err != nil {
		t.Errorf("Components after a made cursor: %v", err)
	}
}
