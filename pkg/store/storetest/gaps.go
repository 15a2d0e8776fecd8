package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// gapOf returns the first gap of sc with code.
func gapOf(t *testing.T, sc evidence.Score, code string) evidence.Gap {
	t.Helper()
	for _, g := range sc.Gaps {
		if g.Code == code {
			return g
		}
	}
	t.Fatalf("score %s has no gap %s", sc.EvaluationID, code)
	return evidence.Gap{}
}

// gapEvent returns the event that the evaluation of sc (its ID and time) opened or closed the gap
// g of sc's artifact and environment.
func gapEvent(sc evidence.Score, g evidence.Gap, state string) store.GapEvent {
	return store.GapEvent{
		Fingerprint:  event.GapFingerprint(sc.Image.Digest, sc.Environment, g.Code),
		Image:        sc.Image,
		Environment:  sc.Environment,
		Org:          sc.Org,
		Team:         sc.Team,
		Gap:          g,
		State:        state,
		At:           sc.EvaluatedAt,
		EvaluationID: sc.EvaluationID,
	}
}

// openItem is the open gap code of current score sc, opened at opened.
func openItem(t *testing.T, sc evidence.Score, code string, opened time.Time) store.GapItem {
	t.Helper()
	return store.GapItem{
		Fingerprint: event.GapFingerprint(sc.Image.Digest, sc.Environment, code),
		Image:       sc.Image,
		Environment: sc.Environment,
		Org:         sc.Org,
		Team:        sc.Team,
		Gap:         gapOf(t, sc, code),
		State:       store.GapStateOpen,
		OpenedAt:    opened,
		SLSALevel:   sc.Level,
	}
}

// closedItem is the gap that closing event e closed, opened at opened, in an environment whose
// current level is level.
func closedItem(e store.GapEvent, opened time.Time, level evidence.Level) store.GapItem {
	closed := e.At
	return store.GapItem{
		Fingerprint: e.Fingerprint,
		Image:       e.Image,
		Environment: e.Environment,
		Org:         e.Org,
		Team:        e.Team,
		Gap:         e.Gap,
		State:       store.GapStateClosed,
		OpenedAt:    opened,
		ClosedAt:    &closed,
		SLSALevel:   level,
	}
}

func mustWriteGapEvents(t *testing.T, s store.Store, events ...store.GapEvent) {
	t.Helper()
	if err := s.WriteGapEvents(ctxOf(t), events); err != nil {
		t.Fatalf("WriteGapEvents: %v", err)
	}
}

func mustGaps(t *testing.T, s store.Store, q store.GapQuery) ([]store.GapItem, string) {
	t.Helper()
	items, next, err := s.Gaps(ctxOf(t), q)
	if err != nil {
		t.Fatalf("Gaps(%+v): %v", q, err)
	}
	if items == nil {
		t.Errorf("Gaps(%+v) returned nil items, want a non-nil slice", q)
	}
	return items, next
}

// allGaps follows q's cursors to the last page and returns every item.
func allGaps(t *testing.T, s store.Store, q store.GapQuery) []store.GapItem {
	t.Helper()
	all := []store.GapItem{}
	for range maxPages {
		items, next := mustGaps(t, s, q)
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) != q.PageSize() || next == q.After {
			t.Fatalf("Gaps(%+v): %d items and next %q, want a full page and a new cursor", q, len(items), next)
		}
		q.After = next
	}
	t.Fatalf("Gaps(%+v): more than %d pages", q, maxPages)
	return nil
}

func mustGapsVersion(t *testing.T, s store.Store, q store.GapQuery) string {
	t.Helper()
	v, err := s.GapsVersion(ctxOf(t), q)
	if err != nil {
		t.Fatalf("GapsVersion(%+v): %v", q, err)
	}
	if v == "" {
		t.Errorf("GapsVersion(%+v) is empty", q)
	}
	return v
}

// checkFeed compares the open, closed and whole feed with what is expected, items in feed order.
func checkFeed(t *testing.T, s store.Store, step string, open, closed, all []store.GapItem) {
	t.Helper()
	for _, c := range []struct {
		q    store.GapQuery
		want []store.GapItem
	}{
		{store.GapQuery{}, open},
		{store.GapQuery{State: store.GapStateOpen}, open},
		{store.GapQuery{State: store.GapStateClosed}, closed},
		{store.GapQuery{State: store.GapStateAll}, all},
	} {
		if diff := cmp.Diff(c.want, allGaps(t, s, c.q), exactOpts); diff != "" {
			t.Errorf("%s: Gaps(state %q) (-want +got):\n%s", step, c.q.State, diff)
		}
	}
}

// testGapLifecycle opens two gaps, closes one, reopens it and closes both, with the events the
// scorer would send: the feed follows, with the opening and closing times of the events.
func testGapLifecycle(t *testing.T, s store.Store) {
	img := imageOf("gaps/lifecycle")
	dep := deployment(img, "acme", "pay", "prod", "api", base)
	t0, t1, t2, t3 := base, base.Add(time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour)
	write := func(sc evidence.Score) {
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, sc.EvaluatedAt), Deployments: []evidence.Deployment{dep},
			Scores: []evidence.Score{sc}})
	}
	empty := []store.GapItem{}

	s0 := scoreFor(dep, "eval-0", t0, 1, false, "sbom.missing", "tlog.missing")
	write(s0)
	open0 := []store.GapItem{openItem(t, s0, "sbom.missing", t0), openItem(t, s0, "tlog.missing", t0)}
	checkFeed(t, s, "opened without events", open0, empty, open0)
	opened := []store.GapEvent{
		gapEvent(s0, gapOf(t, s0, "sbom.missing"), store.GapOpened),
		gapEvent(s0, gapOf(t, s0, "tlog.missing"), store.GapOpened),
	}
	mustWriteGapEvents(t, s, opened...)
	checkFeed(t, s, "opened", open0, empty, open0)

	// eval-1 no longer finds sbom.missing: closed.
	s1 := scoreFor(dep, "eval-1", t1, 2, true, "tlog.missing")
	write(s1)
	closeSBOM := gapEvent(s1, gapOf(t, s0, "sbom.missing"), store.GapClosed)
	mustWriteGapEvents(t, s, closeSBOM)
	open1 := []store.GapItem{openItem(t, s1, "tlog.missing", t0)}
	closed1 := []store.GapItem{closedItem(closeSBOM, t0, 2)}
	checkFeed(t, s, "one closed", open1, closed1, []store.GapItem{closed1[0], open1[0]})

	// eval-2 finds it again: reopened at t2.
	s2 := scoreFor(dep, "eval-2", t2, 1, false, "sbom.missing", "tlog.missing")
	write(s2)
	reopen := gapEvent(s2, gapOf(t, s2, "sbom.missing"), store.GapOpened)
	mustWriteGapEvents(t, s, reopen)
	open2 := []store.GapItem{openItem(t, s2, "tlog.missing", t0), openItem(t, s2, "sbom.missing", t2)}
	checkFeed(t, s, "reopened", open2, empty, open2)
	version := mustGapsVersion(t, s, store.GapQuery{State: store.GapStateAll})

	// Everything delivered again: nothing changes.
	write(s2)
	write(s1)
	mustWriteGapEvents(t, s, append(opened, closeSBOM, reopen)...)
	checkFeed(t, s, "redelivered", open2, empty, open2)
	if v := mustGapsVersion(t, s, store.GapQuery{State: store.GapStateAll}); v != version {
		t.Errorf("GapsVersion after re-delivery = %q, want %q as before", v, version)
	}

	// eval-3 finds neither: both closed, each with its latest opening.
	s3 := scoreFor(dep, "eval-3", t3, 3, true)
	write(s3)
	closeBoth := []store.GapEvent{
		gapEvent(s3, gapOf(t, s2, "sbom.missing"), store.GapClosed),
		gapEvent(s3, gapOf(t, s2, "tlog.missing"), store.GapClosed),
	}
	// Before the events arrive, the closed gaps are neither open (the score says so) nor closed.
	checkFeed(t, s, "closed without events", empty, empty, empty)
	mustWriteGapEvents(t, s, closeBoth...)
	closed3 := []store.GapItem{closedItem(closeBoth[1], t0, 3), closedItem(closeBoth[0], t2, 3)}
	checkFeed(t, s, "both closed", empty, closed3, closed3)
	if v := mustGapsVersion(t, s, store.GapQuery{State: store.GapStateAll}); v == version {
		t.Errorf("GapsVersion after closing both gaps = %q, unchanged", v)
	}
}

// testGapsOfRunningDeployments proves open gaps are those of the current scores of running
// deployments, opened at the evaluation when no event says otherwise.
func testGapsOfRunningDeployments(t *testing.T, s store.Store) {
	img := imageOf("gaps/running")
	prod := deployment(img, "acme", "pay", "prod", "api", base)
	staging := deployment(img, "acme", "pay", "staging", "api", base)
	dev := deployment(img, "acme", "pay", "dev", "api", base) // scored, never deployed
	sProd := scoreFor(prod, "eval-run", base, 1, false, "provenance.missing")
	sStaging := scoreFor(staging, "eval-run", base.Add(time.Minute), 2, true, "tlog.missing")
	sDev := scoreFor(dev, "eval-run", base, 0, false, "provenance.missing")
	col := collection(img, base)
	mustWrite(t, s, store.Evaluation{Evidence: col, Deployments: []evidence.Deployment{prod, staging},
		Scores: []evidence.Score{sProd, sStaging, sDev}})
	want := []store.GapItem{openItem(t, sProd, "provenance.missing", base),
		openItem(t, sStaging, "tlog.missing", base.Add(time.Minute))}
	checkFeed(t, s, "running", want, []store.GapItem{}, want)

	// An older evaluation delivered late does not change the current gaps.
	older := scoreFor(prod, "eval-older", base.Add(-time.Hour), 0, false, "sbom.missing")
	mustWrite(t, s, store.Evaluation{Evidence: col, Deployments: []evidence.Deployment{prod}, Scores: []evidence.Score{older}})
	checkFeed(t, s, "older evaluation", want, []store.GapItem{}, want)

	// staging ended: its gap is no longer open.
	mustWrite(t, s, store.Evaluation{Evidence: col,
		Deployments: []evidence.Deployment{ended(staging, base.Add(time.Hour), base.Add(time.Hour))}})
	checkFeed(t, s, "staging ended", want[:1], []store.GapItem{}, want[:1])

	// A newer evaluation without gaps closes prod's gap.
	mustWrite(t, s, store.Evaluation{Evidence: col, Deployments: []evidence.Deployment{prod},
		Scores: []evidence.Score{scoreFor(prod, "eval-clean", base.Add(2*time.Hour), 3, true)}})
	checkFeed(t, s, "clean", []store.GapItem{}, []store.GapItem{}, []store.GapItem{})
}

// gapFeedWorld writes the artifacts of the filter tests and returns the feed in order: g1 (two
// gaps) opened at base, g2 at base+1m, g3 at base+2m, and g4's closed gap, opened an hour
// before base.
func gapFeedWorld(t *testing.T, s store.Store) (closed store.GapItem, open []store.GapItem) {
	type art struct {
		name, org, team, env string
		at                   time.Time
		gaps                 []evidence.Gap
	}
	arts := []art{
		{"g1", "acme", "pay", "prod", base, []evidence.Gap{
			{Code: "provenance.missing", Severity: "high", Message: "no provenance", Rule: "r1"},
			{Code: "sbom.missing", Severity: "medium", Message: "no SBOM", Rule: "r2"},
		}},
		{"g2", "acme", "web", "prod", base.Add(time.Minute), []evidence.Gap{
			{Code: "provenance.missing", Severity: "high", Message: "no provenance", Rule: "r1"},
		}},
		{"g3", "globex", "core", "staging", base.Add(2 * time.Minute), []evidence.Gap{
			{Code: "tlog.missing", Severity: "low", Message: "no tlog entry", Rule: "r3"},
		}},
	}
	for _, a := range arts {
		img := imageOf("gaps/feed/" + a.name)
		dep := deployment(img, a.org, a.team, a.env, "svc", a.at)
		sc := scoreFor(dep, "eval-"+a.name, a.at, 1, false)
		sc.Gaps = a.gaps
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, a.at), Deployments: []evidence.Deployment{dep},
			Scores: []evidence.Score{sc}})
		for _, g := range a.gaps {
			open = append(open, openItem(t, sc, g.Code, a.at))
		}
	}
	img := imageOf("gaps/feed/g4")
	dep := deployment(img, "acme", "pay", "prod", "svc", base)
	before := scoreFor(dep, "eval-g4-0", base.Add(-time.Hour), 0, false, "sbom.unsigned")
	after := scoreFor(dep, "eval-g4-1", base, 2, true)
	mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep},
		Scores: []evidence.Score{before, after}})
	g := gapOf(t, before, "sbom.unsigned")
	closing := gapEvent(after, g, store.GapClosed)
	mustWriteGapEvents(t, s, gapEvent(before, g, store.GapOpened), closing)
	return closedItem(closing, base.Add(-time.Hour), 2), open
}

func testGapFeedFilters(t *testing.T, s store.Store) {
	closed, open := gapFeedWorld(t, s)
	g1prov, g1sbom, g2prov, g3tlog := open[0], open[1], open[2], open[3]
	if g1sbom.Code != "sbom.missing" || g3tlog.Code != "tlog.missing" {
		t.Fatalf("unexpected world: %+v", open)
	}
	none := []store.GapItem{}
	tests := []struct {
		q    store.GapQuery
		want []store.GapItem
	}{
		{store.GapQuery{}, open},
		{store.GapQuery{Org: "acme"}, []store.GapItem{g1prov, g1sbom, g2prov}},
		{store.GapQuery{Team: "web"}, []store.GapItem{g2prov}},
		{store.GapQuery{Environment: "staging"}, []store.GapItem{g3tlog}},
		{store.GapQuery{Code: "provenance.missing"}, []store.GapItem{g1prov, g2prov}},
		{store.GapQuery{Severity: "medium"}, []store.GapItem{g1sbom}},
		{store.GapQuery{Org: "acme", Team: "pay", Environment: "prod", Code: "sbom.missing", Severity: "medium"}, []store.GapItem{g1sbom}},
		{store.GapQuery{Org: "acme", Severity: "low"}, none},
		{store.GapQuery{State: store.GapStateClosed}, []store.GapItem{closed}},
		{store.GapQuery{State: store.GapStateClosed, Code: "sbom.unsigned", Team: "pay"}, []store.GapItem{closed}},
		{store.GapQuery{State: store.GapStateClosed, Org: "globex"}, none},
		{store.GapQuery{State: store.GapStateAll}, append([]store.GapItem{closed}, open...)},
		{store.GapQuery{State: store.GapStateAll, Org: "acme", Team: "pay"}, []store.GapItem{closed, g1prov, g1sbom}},
		{store.GapQuery{State: store.GapStateAll, Severity: "high"}, []store.GapItem{closed, g1prov, g2prov}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.q), func(t *testing.T) {
			got := allGaps(t, s, tt.q)
			if diff := cmp.Diff(tt.want, got, exactOpts); diff != "" {
				t.Errorf("Gaps(%+v) (-want +got):\n%s", tt.q, diff)
			}
			for _, limit := range []int{1, 2, 3} {
				q := tt.q
				q.Limit = limit
				if diff := cmp.Diff(got, allGaps(t, s, q), exactOpts); diff != "" {
					t.Errorf("Gaps(%+v) over pages of %d (-all at once +paged):\n%s", tt.q, limit, diff)
				}
			}
		})
	}
	items, next := mustGaps(t, s, store.GapQuery{State: store.GapStateAll, Limit: 2})
	if len(items) != 2 || next == "" {
		t.Errorf("Gaps(all, limit 2) = %d items, next %q; want 2 and a next page", len(items), next)
	}
	if _, next := mustGaps(t, s, store.GapQuery{State: store.GapStateAll, Limit: 5}); next != "" {
		t.Errorf("Gaps(all, limit 5) of 5 items: next %q, want none", next)
	}
}

func testGapsInvalid(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		q    store.GapQuery
	}{
		{"unknown state", store.GapQuery{State: "opened"}},
		{"negative limit", store.GapQuery{Limit: -1}},
		{"limit over the maximum", store.GapQuery{Limit: store.MaxPageLimit + 1}},
		{"cursor not base64url", store.GapQuery{After: "not a cursor!"}},
		{"cursor of a component search", store.GapQuery{After: store.ComponentKey{Name: "x"}.Cursor()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Gaps(ctxOf(t), tt.q); !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Gaps(%+v) error = %v, want one wrapping evidence.ErrInvalid", tt.q, err)
			}
			if _, err := s.GapsVersion(ctxOf(t), tt.q); tt.q.After == "" && tt.q.Limit == 0 && !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("GapsVersion(%+v) error = %v, want one wrapping evidence.ErrInvalid", tt.q, err)
			}
		})
	}
	img := imageOf("gaps/invalid")
	sc := scoreFor(deployment(img, "acme", "pay", "prod", "api", base), "eval-inv", base, 1, false, "sbom.missing")
	valid := gapEvent(sc, sc.Gaps[0], store.GapClosed)
	for name, mutate := range map[string]func(*store.GapEvent){
		"fingerprint of another gap": func(e *store.GapEvent) { e.Fingerprint = event.GapFingerprint(img.Digest, "dev", e.Gap.Code) },
		"no fingerprint":             func(e *store.GapEvent) { e.Fingerprint = "" },
		"unknown state":              func(e *store.GapEvent) { e.State = "open" },
		"no evaluation":              func(e *store.GapEvent) { e.EvaluationID = "" },
		"no code":                    func(e *store.GapEvent) { e.Gap.Code = "" },
		"no org":                     func(e *store.GapEvent) { e.Org = "" },
		"no time":                    func(e *store.GapEvent) { e.At = time.Time{} },
		"bad image":                  func(e *store.GapEvent) { e.Image.Repository = "api" },
	} {
		e := valid
		mutate(&e)
		// The valid event of the batch is not written either.
		if err := s.WriteGapEvents(ctxOf(t), []store.GapEvent{valid, e}); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("WriteGapEvents with an event with %s: error = %v, want one wrapping evidence.ErrInvalid", name, err)
		}
	}
	if got := allGaps(t, s, store.GapQuery{State: store.GapStateAll}); len(got) != 0 {
		t.Errorf("Gaps after rejected writes = %+v, want none", got)
	}
	mustWriteGapEvents(t, s) // nothing to write
	mustWriteGapEvents(t, s, valid)
	if got := allGaps(t, s, store.GapQuery{State: store.GapStateClosed}); len(got) != 1 {
		t.Errorf("Gaps(closed) after a valid close = %+v, want one", got)
	}
}

// testGapsVersion proves the version of a feed changes when, and only when, the feed does.
func testGapsVersion(t *testing.T, s store.Store) {
	queries := []store.GapQuery{
		{}, {State: store.GapStateAll}, {State: store.GapStateClosed}, {Org: "acme"}, {Org: "globex", State: store.GapStateAll},
	}
	versions := func() []string {
		var vs []string
		for _, q := range queries {
			vs = append(vs, mustGapsVersion(t, s, q))
		}
		return vs
	}
	last := versions()
	// step makes a change and checks which queries' versions change (by index in queries), and
	// that the others' do not.
	step := func(name string, change func(), changed ...int) {
		t.Helper()
		change()
		now := versions()
		for i, q := range queries {
			want := contains(changed, i)
			if got := now[i] != last[i]; got != want {
				t.Errorf("%s: GapsVersion(%+v) %s -> %s: changed %v, want %v", name, q, last[i], now[i], got, want)
			}
		}
		last = now
	}
	img := imageOf("gaps/version")
	dep := deployment(img, "acme", "pay", "prod", "api", base)
	sc := scoreFor(dep, "eval-v1", base, 1, false, "sbom.missing")
	ev := store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep}, Scores: []evidence.Score{sc}}
	step("first gap", func() { mustWrite(t, s, ev) }, 0, 1, 3)
	step("evaluation again", func() { mustWrite(t, s, ev) })
	open := gapEvent(sc, sc.Gaps[0], store.GapOpened)
	step("event at the evaluation's time", func() { mustWriteGapEvents(t, s, open) })
	// A later opening (as after a close the store never heard of) is the latest.
	open.At, open.EvaluationID = base.Add(30*time.Minute), "eval-v1b"
	step("later opening", func() { mustWriteGapEvents(t, s, open) }, 0, 1, 3)
	early := open
	early.At, early.EvaluationID = base.Add(-time.Hour), "eval-v0"
	step("earlier opening", func() { mustWriteGapEvents(t, s, early) })
	step("event again", func() { mustWriteGapEvents(t, s, open) })
	re := ev
	re.Scores = []evidence.Score{scoreFor(dep, "eval-v2", base.Add(time.Hour), 1, false, "sbom.missing")}
	step("re-evaluation finding the same", func() { mustWrite(t, s, re) })

	other := imageOf("gaps/version-other")
	odep := deployment(other, "globex", "core", "prod", "api", base)
	osc := scoreFor(odep, "eval-o", base, 2, true, "tlog.missing")
	step("another org's gap", func() {
		mustWrite(t, s, store.Evaluation{Evidence: collection(other, base), Deployments: []evidence.Deployment{odep},
			Scores: []evidence.Score{osc}})
	}, 0, 1, 4)
	osc2 := scoreFor(odep, "eval-o2", base.Add(time.Hour), 3, true)
	step("another org's gap closed", func() {
		mustWrite(t, s, store.Evaluation{Evidence: collection(other, base), Deployments: []evidence.Deployment{odep},
			Scores: []evidence.Score{osc2}})
		mustWriteGapEvents(t, s, gapEvent(osc2, osc.Gaps[0], store.GapClosed))
	}, 0, 1, 2, 4)
	step("deployment ended", func() {
		mustWrite(t, s, store.Evaluation{Evidence: ev.Evidence,
			Deployments: []evidence.Deployment{ended(dep, base.Add(2*time.Hour), base.Add(2*time.Hour))}})
	}, 0, 1, 3)
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
