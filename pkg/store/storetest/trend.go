package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

func mustRollup(t *testing.T, s store.Store, day time.Time) {
	t.Helper()
	if err := s.RollupCoverage(ctxOf(t), day); err != nil {
		t.Fatalf("RollupCoverage(%s): %v", day.Format(time.DateOnly), err)
	}
}

func mustTrend(t *testing.T, s store.Store, q store.TrendQuery) []store.TrendPoint {
	t.Helper()
	got, err := s.Trend(ctxOf(t), q)
	if err != nil {
		t.Fatalf("Trend(%+v): %v", q, err)
	}
	if got == nil {
		t.Errorf("Trend(%+v) returned nil, want a non-nil slice", q)
	}
	return got
}

// point builds the expected TrendPoint from counts of L0 to L3.
func point(day time.Time, group string, l0, l1, l2, l3, verified, withGaps int) store.TrendPoint {
	c := coverage(l0, l1, l2, l3, verified, withGaps)
	return store.TrendPoint{Day: day, Group: group, Total: c.Total, ByLevel: c.ByLevel,
		VerifiedProvenance: verified, WithGaps: withGaps}
}

// testRollupTrend rolls coverage up on two days, the second twice with a change between, and
// reads the trend by org, team and environment.
//
//	day 1: r1 L3 verified in acme/pay/prod and acme/web/prod; r2 L1 with gaps in
//	       acme/pay/staging; r3 L2 verified with gaps in acme/web/prod; r4 unscored in
//	       globex/core/prod.
//	day 2: r2's deployment ended; r5 L2 verified in globex/core/prod.
func testRollupTrend(t *testing.T, s store.Store) {
	day1 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	type placed struct {
		org, team, env string
		level          evidence.Level
		verified       bool
		gaps           []string
		unscored       bool
	}
	write := func(name string, places ...placed) store.Evaluation {
		img := imageOf("rollup/" + name)
		ev := store.Evaluation{Evidence: collection(img, base)}
		for _, p := range places {
			dep := deployment(img, p.org, p.team, p.env, p.team+"-svc", base)
			ev.Deployments = append(ev.Deployments, dep)
			if !p.unscored {
				ev.Scores = append(ev.Scores, scoreFor(dep, "eval-"+name, base, p.level, p.verified, p.gaps...))
			}
		}
		mustWrite(t, s, ev)
		return ev
	}
	write("r1", placed{"acme", "pay", "prod", 3, true, nil, false}, placed{"acme", "web", "prod", 3, true, nil, false})
	r2 := write("r2", placed{"acme", "pay", "staging", 1, false, []string{"provenance.unsigned"}, false})
	write("r3", placed{"acme", "web", "prod", 2, true, []string{"level.below_required"}, false})
	write("r4", placed{org: "globex", team: "core", env: "prod", unscored: true})

	// Any time of the day names it; rolling up twice changes nothing.
	mustRollup(t, s, day1.Add(13*time.Hour))
	mustRollup(t, s, day1.Add(23*time.Hour+59*time.Minute))
	// Day 2 rolled up now, and again after the changes: the second replaces the first.
	mustRollup(t, s, day2)
	mustWrite(t, s, store.Evaluation{Evidence: r2.Evidence,
		Deployments: []evidence.Deployment{ended(r2.Deployments[0], base.Add(time.Hour), base.Add(time.Hour))}})
	write("r5", placed{"globex", "core", "prod", 2, true, nil, false})
	mustRollup(t, s, day2.Add(time.Hour))

	// A group's roll-up is its coverage.
	byTeam := mustTrend(t, s, store.TrendQuery{From: day2, To: day2, By: store.TrendByTeam, Org: "acme", Environment: "prod"})
	for _, p := range byTeam {
		c := mustCoverage(t, s, store.CoverageQuery{Org: "acme", Team: p.Group, Environment: "prod"})
		if diff := cmp.Diff(c, store.Coverage{Total: p.Total, ByLevel: p.ByLevel, VerifiedProvenance: p.VerifiedProvenance,
			WithGaps: p.WithGaps}); diff != "" {
			t.Errorf("roll-up of acme/%s/prod differs from its coverage (-coverage +roll-up):\n%s", p.Group, diff)
		}
	}

	none := []store.TrendPoint{}
	tests := []struct {
		name string
		q    store.TrendQuery
		want []store.TrendPoint
	}{
		// r1 counts once in each of acme's two prod groups: the trend sums groups.
		{"by org", store.TrendQuery{From: base, To: base.Add(24 * time.Hour), By: store.TrendByOrg}, []store.TrendPoint{
			point(day1, "acme", 0, 1, 1, 2, 3, 2),
			point(day1, "globex", 1, 0, 0, 0, 0, 0),
			point(day2, "acme", 0, 0, 1, 2, 3, 1),
			point(day2, "globex", 1, 0, 1, 0, 1, 0),
		}},
		{"by environment", store.TrendQuery{From: day1, To: day2, By: store.TrendByEnv}, []store.TrendPoint{
			point(day1, "prod", 1, 0, 1, 2, 3, 1),
			point(day1, "staging", 0, 1, 0, 0, 0, 1),
			point(day2, "prod", 1, 0, 2, 2, 4, 1),
		}},
		{"by team of an org", store.TrendQuery{From: day1, To: day2, By: store.TrendByTeam, Org: "acme"}, []store.TrendPoint{
			point(day1, "pay", 0, 1, 0, 1, 1, 1),
			point(day1, "web", 0, 0, 1, 1, 2, 1),
			point(day2, "pay", 0, 0, 0, 1, 1, 0),
			point(day2, "web", 0, 0, 1, 1, 2, 1),
		}},
		{"by org of a team", store.TrendQuery{From: day1, To: day2, By: store.TrendByOrg, Team: "core"}, []store.TrendPoint{
			point(day1, "globex", 1, 0, 0, 0, 0, 0),
			point(day2, "globex", 1, 0, 1, 0, 1, 0),
		}},
		{"by org in staging", store.TrendQuery{From: day1, To: day2, By: store.TrendByOrg, Environment: "staging"}, []store.TrendPoint{
			point(day1, "acme", 0, 1, 0, 0, 0, 1),
		}},
		{"one day", store.TrendQuery{From: day2, To: day2.Add(time.Hour), By: store.TrendByEnv, Org: "globex"}, []store.TrendPoint{
			point(day2, "prod", 1, 0, 1, 0, 1, 0),
		}},
		{"days without roll-ups", store.TrendQuery{From: day2.AddDate(0, 0, 1), To: day2.AddDate(1, 0, 0), By: store.TrendByOrg}, none},
		{"an unknown org", store.TrendQuery{From: day1, To: day2, By: store.TrendByOrg, Org: "nobody"}, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustTrend(t, s, tt.q)
			// Compare without EquateEmpty: the four level keys must be present even at zero.
			if diff := cmp.Diff(tt.want, got, cmp.Transformer("UTC", func(t time.Time) time.Time { return t.UTC() })); diff != "" {
				t.Errorf("Trend(%+v) (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func testTrendInvalid(t *testing.T, s store.Store) {
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		q    store.TrendQuery
	}{
		{"from after to", store.TrendQuery{From: day.AddDate(0, 0, 1), To: day, By: store.TrendByOrg}},
		{"367 days", store.TrendQuery{From: day, To: day.AddDate(0, 0, 367), By: store.TrendByOrg}},
		{"unknown grouping", store.TrendQuery{From: day, To: day, By: "cluster"}},
		{"no grouping", store.TrendQuery{From: day, To: day}},
		{"before 1970", store.TrendQuery{From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: day, By: store.TrendByEnv}},
		{"zero times", store.TrendQuery{By: store.TrendByEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Trend(ctxOf(t), tt.q); !errors.Is(err, evidence.ErrInvalid) {
				t.Errorf("Trend(%+v) error = %v, want one wrapping evidence.ErrInvalid", tt.q, err)
			}
		})
	}
	// 366 days, the same day, and a day given late in the evening are valid.
	for _, q := range []store.TrendQuery{
		{From: day, To: day.AddDate(0, 0, 366), By: store.TrendByOrg},
		{From: day.Add(23 * time.Hour), To: day, By: store.TrendByTeam},
	} {
		if _, err := s.Trend(ctxOf(t), q); err != nil {
			t.Errorf("Trend(%+v): %v", q, err)
		}
	}
	for _, d := range []time.Time{{}, time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if err := s.RollupCoverage(ctxOf(t), d); !errors.Is(err, evidence.ErrInvalid) {
			t.Errorf("RollupCoverage(%s) error = %v, want one wrapping evidence.ErrInvalid", d, err)
		}
	}
	// Rolling up an empty store records nothing.
	mustRollup(t, s, day)
	if got := mustTrend(t, s, store.TrendQuery{From: day, To: day, By: store.TrendByOrg}); len(got) != 0 {
		t.Errorf("Trend after rolling up an empty store = %+v, want none", got)
	}
}
