package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// exceptionAt returns an exception of org accepting code within scope, created at created
// and expiring after ttl, as a creation by actor.
func exceptionAt(id, org, code string, scope store.ExceptionScope, created time.Time, ttl time.Duration) store.ExceptionChange {
	return store.ExceptionChange{
		At: created, Actor: "token:tok_test", Action: store.ExceptionCreated,
		Exception: store.Exception{
			ID: id, Org: org, Code: code, Scope: scope,
			Reason: "compensating control: " + code, Owner: "secops@" + org + ".example",
			ExpiresAt: created.Add(ttl), CreatedAt: created, CreatedBy: "token:tok_test",
			UpdatedAt: created, Version: created.UnixNano(),
		},
	}
}

func mustWriteException(t *testing.T, s store.Store, cs ...store.ExceptionChange) {
	t.Helper()
	for _, c := range cs {
		if err := s.WriteExceptionChange(ctxOf(t), c); err != nil {
			t.Fatalf("WriteExceptionChange(%s %s): %v", c.Action, c.Exception.ID, err)
		}
	}
}

func mustExceptions(t *testing.T, s store.Store, q store.ExceptionQuery) []store.Exception {
	t.Helper()
	got, err := s.Exceptions(ctxOf(t), q)
	if err != nil {
		t.Fatalf("Exceptions(%+v): %v", q, err)
	}
	return got
}

// change returns c changed by action at time at, with fn applied to its exception.
func change(c store.ExceptionChange, action string, at time.Time, fn func(*store.Exception)) store.ExceptionChange {
	c.Action, c.At, c.Actor = action, at, "cli:alice"
	c.Exception.UpdatedAt, c.Exception.Version = at, at.UnixNano()
	fn(&c.Exception)
	return c
}

// testExceptions: exceptions round-trip, the newest version wins whatever the order of writes,
// writing a change twice keeps one audit entry, and invalid changes are refused.
func testExceptions(t *testing.T, s store.Store) {
	now := time.Now().UTC()
	a := exceptionAt("exc_00000000000000a1", "acme", "sbom.missing", store.ExceptionScope{Environment: "dev"}, now.Add(-time.Hour), 24*time.Hour)
	b := exceptionAt("exc_00000000000000b2", "acme", "provenance.unsigned",
		store.ExceptionScope{Repository: "registry.example.com/apps/*", Team: "pay"}, now.Add(-time.Hour), 48*time.Hour)
	g := exceptionAt("exc_00000000000000c3", "globex", "sbom.missing", store.ExceptionScope{Digest: digestOf("x")}, now.Add(-time.Hour), time.Hour*2)
	mustWriteException(t, s, a, b, g, a) // a twice

	if got := mustExceptions(t, s, store.ExceptionQuery{}); !cmp.Equal(got, []store.Exception{a.Exception, b.Exception, g.Exception}) {
		t.Errorf("Exceptions() = %+v", got)
	}
	if got := mustExceptions(t, s, store.ExceptionQuery{Org: "globex"}); !cmp.Equal(got, []store.Exception{g.Exception}) {
		t.Errorf("Exceptions(globex) = %+v", got)
	}
	if got := mustExceptions(t, s, store.ExceptionQuery{ID: b.Exception.ID}); !cmp.Equal(got, []store.Exception{b.Exception}) {
		t.Errorf("Exceptions(id b) = %+v", got)
	}
	if got := mustExceptions(t, s, store.ExceptionQuery{Org: "initech"}); got == nil || len(got) != 0 {
		t.Errorf("Exceptions(initech) = %#v, want empty, not nil", got)
	}

	// An update, then a revocation; the update written again afterwards changes nothing.
	renewed := change(a, store.ExceptionUpdated, now.Add(-30*time.Minute), func(e *store.Exception) {
		e.ExpiresAt = e.ExpiresAt.Add(24 * time.Hour)
		e.Reason = "renewed: vendor fix due"
	})
	revokedAt := now.Add(-10 * time.Minute)
	revoked := change(renewed, store.ExceptionRevoked, revokedAt, func(e *store.Exception) { e.RevokedAt = &revokedAt })
	revoked.Comment = "fixed upstream"
	mustWriteException(t, s, renewed, revoked, renewed)
	if got := mustExceptions(t, s, store.ExceptionQuery{ID: a.Exception.ID}); !cmp.Equal(got, []store.Exception{revoked.Exception}) {
		t.Errorf("after revocation, Exceptions(a) = %+v, want %+v", got, revoked.Exception)
	}
	if st := revoked.Exception.State(now); st != store.ExceptionStateRevoked {
		t.Errorf("State = %q, want revoked", st)
	}

	audit, err := s.ExceptionAudit(ctxOf(t), store.ExceptionQuery{Org: "acme"})
	if err != nil {
		t.Fatalf("ExceptionAudit: %v", err)
	}
	want := []store.ExceptionChange{a, b, renewed, revoked} // a and b at the same time: by ID
	if diff := cmp.Diff(want, audit); diff != "" {
		t.Errorf("ExceptionAudit(acme) (-want +got):\n%s", diff)
	}
	if audit, err := s.ExceptionAudit(ctxOf(t), store.ExceptionQuery{ID: g.Exception.ID}); err != nil ||
		!cmp.Equal(audit, []store.ExceptionChange{g}) {
		t.Errorf("ExceptionAudit(g) = %+v, %v", audit, err)
	}

	for name, c := range map[string]store.ExceptionChange{
		"no scope":      exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{}, now, time.Hour),
		"bad id":        exceptionAt("exc_1", "acme", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, time.Hour),
		"no org":        exceptionAt("exc_00000000000000d4", "", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, time.Hour),
		"bad code":      exceptionAt("exc_00000000000000d4", "acme", "SBOM missing", store.ExceptionScope{Team: "pay"}, now, time.Hour),
		"bad pattern":   exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Repository: "reg/[a-z]"}, now, time.Hour),
		"star alone":    exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Repository: "**"}, now, time.Hour),
		"expired first": exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, -time.Hour),
		"no reason": func() store.ExceptionChange {
			c := exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, time.Hour)
			c.Exception.Reason = " "
			return c
		}(),
		"at not version": func() store.ExceptionChange {
			c := exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, time.Hour)
			c.At = c.At.Add(time.Second)
			return c
		}(),
		"unknown action": func() store.ExceptionChange {
			c := exceptionAt("exc_00000000000000d4", "acme", "sbom.missing", store.ExceptionScope{Team: "pay"}, now, time.Hour)
			c.Action = "deleted"
			return c
		}(),
	} {
		if err := s.WriteExceptionChange(ctxOf(t), c); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("%s: WriteExceptionChange = %v, want an error wrapping evidence.ErrInvalid", name, err)
		}
	}
	if got := mustExceptions(t, s, store.ExceptionQuery{ID: "exc_00000000000000d4"}); len(got) != 0 {
		t.Errorf("an invalid change was stored: %+v", got)
	}
}

// testExceptionsCoverage: gaps that active exceptions accept do not count against coverage
// (WithGaps), they are counted as Accepted instead, and they count again once the exception
// expires or is revoked; roll-ups count as Coverage does; the gap feed marks them.
//
//	e1: acme/pay/prod, sbom.missing.
//	e2: acme/pay/dev, sbom.missing and provenance.unsigned.
//	e3: acme/web/prod, sbom.missing (repository registry.example.com/apps/web-e3).
//	e4: globex/pay/dev, sbom.missing.
//	e5: acme/web/dev, no gaps.
func testExceptionsCoverage(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	write := func(name, org, team, env string, gaps ...string) evidence.ImageRef {
		img := imageOf(name)
		dep := deployment(img, org, team, env, "svc", base)
		mustWrite(t, s, store.Evaluation{Evidence: collection(img, base), Deployments: []evidence.Deployment{dep},
			Scores: []evidence.Score{scoreFor(dep, "eval-"+name, base, 1, false, gaps...)}})
		return img
	}
	write("e1", "acme", "pay", "prod", "sbom.missing")
	e2 := write("e2", "acme", "pay", "dev", "sbom.missing", "provenance.unsigned")
	write("web e3", "acme", "web", "prod", "sbom.missing")
	write("e4", "globex", "pay", "dev", "sbom.missing")
	write("e5", "acme", "web", "dev")

	withGaps := func(q store.CoverageQuery) (int, int) {
		c := mustCoverage(t, s, q)
		return c.WithGaps, c.Accepted
	}
	check := func(when string, q store.CoverageQuery, gaps, accepted int) {
		t.Helper()
		if g, a := withGaps(q); g != gaps || a != accepted {
			t.Errorf("%s: Coverage(%+v): with_gaps %d, accepted %d; want %d and %d", when, q, g, a, gaps, accepted)
		}
	}
	check("no exceptions", store.CoverageQuery{}, 4, 0)

	// Accepting one of e2's two codes leaves it with gaps; globex's e4 is not acme's.
	dev := exceptionAt("exc_0000000000000001", "acme", "sbom.missing", store.ExceptionScope{Environment: "dev"}, now.Add(-time.Hour), 2*time.Hour)
	mustWriteException(t, s, dev)
	check("sbom.missing accepted in acme's dev", store.CoverageQuery{}, 4, 0)

	// Accepting the other (for e2 alone) makes e2 accepted.
	one := exceptionAt("exc_0000000000000002", "acme", "provenance.unsigned", store.ExceptionScope{Digest: e2.Digest}, now.Add(-time.Hour), time.Hour+30*time.Minute)
	mustWriteException(t, s, one)
	check("e2 all accepted", store.CoverageQuery{}, 3, 1)

	// A repository pattern; a pattern that matches no repository accepts nothing.
	web := exceptionAt("exc_0000000000000003", "acme", "sbom.missing", store.ExceptionScope{Repository: "registry.example.com/*/web-*"}, now.Add(-time.Hour), 3*time.Hour)
	none := exceptionAt("exc_0000000000000004", "acme", "sbom.missing", store.ExceptionScope{Repository: "registry.example.com/apps/e1x*"}, now.Add(-time.Hour), 3*time.Hour)
	mustWriteException(t, s, web, none)
	check("repository pattern", store.CoverageQuery{}, 2, 2)
	check("acme", store.CoverageQuery{Org: "acme"}, 1, 2)
	check("globex", store.CoverageQuery{Org: "globex"}, 1, 0)
	check("acme prod", store.CoverageQuery{Org: "acme", Environment: "prod"}, 1, 1)
	check("acme web", store.CoverageQuery{Team: "web"}, 0, 1)

	// The trend of today, rolled up now, counts as Coverage does.
	day := store.Day(time.Now())
	mustRollup(t, s, day)
	for _, q := range []store.TrendQuery{
		{From: day, To: day, By: store.TrendByOrg},
		{From: day, To: day, By: store.TrendByEnv, Org: "acme"},
	} {
		for _, p := range mustTrend(t, s, q) {
			cq := store.CoverageQuery{Org: q.Org}
			if q.By == store.TrendByOrg {
				cq.Org = p.Group
			} else {
				cq.Environment = p.Group
			}
			if g, _ := withGaps(cq); p.WithGaps != g {
				t.Errorf("Trend(%+v) point %s: with_gaps %d, Coverage(%+v) says %d", q, p.Group, p.WithGaps, cq, g)
			}
		}
	}

	// The gap feed marks the accepted gaps.
	items, _, err := s.Gaps(ctxOf(t), store.GapQuery{Org: "acme", Limit: 100})
	if err != nil {
		t.Fatalf("Gaps: %v", err)
	}
	exs := mustExceptions(t, s, store.ExceptionQuery{Org: "acme"})
	store.MarkAccepted(items, exs, now)
	accepted := map[string]string{}
	for _, g := range items {
		if g.Accepted != nil {
			accepted[g.Image.Repository+" "+g.Code] = g.Accepted.ExceptionID
		}
	}
	wantAccepted := map[string]string{
		"registry.example.com/apps/e2 sbom.missing":        dev.Exception.ID,
		"registry.example.com/apps/e2 provenance.unsigned": one.Exception.ID,
		"registry.example.com/apps/web-e3 sbom.missing":    web.Exception.ID,
	}
	if diff := cmp.Diff(wantAccepted, accepted); diff != "" || len(items) != 4 {
		t.Errorf("accepted gaps in the feed of %d items (-want +got):\n%s", len(items), diff)
	}

	// Exceptions lapse: once "one" expires, e2 counts again; revoking "web" brings back e3.
	check("after one expires", store.CoverageQuery{At: one.Exception.ExpiresAt}, 3, 1)
	check("before any was made", store.CoverageQuery{At: now.Add(-2 * time.Hour)}, 4, 0)
	revokedAt := now.Add(-time.Minute)
	mustWriteException(t, s, change(web, store.ExceptionRevoked, revokedAt, func(e *store.Exception) { e.RevokedAt = &revokedAt }))
	check("web revoked", store.CoverageQuery{}, 3, 1)
}
