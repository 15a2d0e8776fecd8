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

// coverageOfPoint returns the coverage a trend point records.
func coverageOfPoint(p store.TrendPoint) store.Coverage {
	return store.Coverage{Total: p.Total, ByLevel: p.ByLevel, VerifiedProvenance: p.VerifiedProvenance, WithGaps: p.WithGaps}
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

	// A point is its group's coverage.
	byTeam := mustTrend(t, s, store.TrendQuery{From: day2, To: day2, By: store.TrendByTeam, Org: "acme", Environment: "prod"})
	for _, p := range byTeam {
		c := mustCoverage(t, s, store.CoverageQuery{Org: "acme", Team: p.Group, Environment: "prod"})
		if diff := cmp.Diff(c, coverageOfPoint(p)); diff != "" {
			t.Errorf("roll-up of acme/%s/prod differs from its coverage (-coverage +roll-up):\n%s", p.Group, diff)
		}
	}

	none := []store.TrendPoint{}
	tests := []struct {
		name string
		q    store.TrendQuery
		want []store.TrendPoint
	}{
		// r1 runs in two of acme's groups and counts once in acme, and once in prod.
		{"by org", store.TrendQuery{From: base, To: base.Add(24 * time.Hour), By: store.TrendByOrg}, []store.TrendPoint{
			point(day1, "acme", 0, 1, 1, 1, 2, 2),
			point(day1, "globex", 1, 0, 0, 0, 0, 0),
			point(day2, "acme", 0, 0, 1, 1, 2, 1),
			point(day2, "globex", 1, 0, 1, 0, 1, 0),
		}},
		{"by environment", store.TrendQuery{From: day1, To: day2, By: store.TrendByEnv}, []store.TrendPoint{
			point(day1, "prod", 1, 0, 1, 1, 2, 1),
			point(day1, "staging", 0, 1, 0, 0, 0, 1),
			point(day2, "prod", 1, 0, 2, 1, 3, 1),
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

// testTrendIsCoverage rolls up a world whose artifacts run in several environments, teams and
// orgs, and checks that every point of every grouping under every combination of filters is
// what Coverage says for its group and the filters, and that a group Trend leaves out has no
// coverage.
//
//	t1: L3 verified in acme/pay/prod; L1 with gaps in acme/pay/staging.
//	t2: L2 in acme/pay/prod and acme/web/prod (one environment, two teams).
//	t3: unscored in globex/pay/prod; L1 verified with gaps in acme/web/dev (two orgs; team pay
//	    of globex is not acme's).
//	t4: L2 verified in globex/core/staging.
//	t5: L1 in acme/prod without a team, and in globex/core/prod.
//	t6: L3 verified in acme/web/staging; its acme/web/prod deployment ended.
func testTrendIsCoverage(t *testing.T, s store.Store) {
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	type placed struct {
		org, team, env string
		level          evidence.Level
		verified       bool
		gaps           []string
		unscored, end  bool
	}
	write := func(name string, places ...placed) {
		img := imageOf("cube/" + name)
		ev := store.Evaluation{Evidence: collection(img, base)}
		for _, p := range places {
			dep := deployment(img, p.org, p.team, p.env, "svc", base)
			if p.end {
				dep = ended(dep, base, base)
			}
			ev.Deployments = append(ev.Deployments, dep)
			if !p.unscored {
				ev.Scores = append(ev.Scores, scoreFor(dep, "eval-"+name, base, p.level, p.verified, p.gaps...))
			}
		}
		mustWrite(t, s, ev)
	}
	gap := []string{"provenance.unsigned"}
	write("t1", placed{org: "acme", team: "pay", env: "prod", level: 3, verified: true},
		placed{org: "acme", team: "pay", env: "staging", level: 1, gaps: gap})
	write("t2", placed{org: "acme", team: "pay", env: "prod", level: 2}, placed{org: "acme", team: "web", env: "prod", level: 2})
	write("t3", placed{org: "globex", team: "pay", env: "prod", unscored: true},
		placed{org: "acme", team: "web", env: "dev", level: 1, verified: true, gaps: gap})
	write("t4", placed{org: "globex", team: "core", env: "staging", level: 2, verified: true})
	write("t5", placed{org: "acme", env: "prod", level: 1}, placed{org: "globex", team: "core", env: "prod", level: 1})
	write("t6", placed{org: "acme", team: "web", env: "staging", level: 3, verified: true},
		placed{org: "acme", team: "web", env: "prod", level: 3, verified: true, end: true})
	mustRollup(t, s, day)

	// By org, an artifact in two environments of the org counts once: t1, t2, t3, t5, t6 in
	// acme, t3, t4 and t5 in globex.
	if diff := cmp.Diff([]store.TrendPoint{point(day, "acme", 0, 2, 1, 2, 3, 2), point(day, "globex", 1, 1, 1, 0, 1, 0)},
		mustTrend(t, s, store.TrendQuery{From: day, To: day, By: store.TrendByOrg}),
		cmp.Transformer("UTC", func(t time.Time) time.Time { return t.UTC() })); diff != "" {
		t.Errorf("Trend by org (-want +got):\n%s", diff)
	}

	labels := map[string][]string{
		store.TrendByOrg:  {"acme", "globex"},
		store.TrendByTeam: {"pay", "web", "core"},
		store.TrendByEnv:  {"prod", "staging", "dev"},
	}
	// coverageOf returns the coverage of group g of grouping by under filters: none when the
	// filters ask for another group.
	coverageOf := func(filters store.CoverageQuery, by, g string) store.Coverage {
		q := filters
		f := map[string]*string{store.TrendByOrg: &q.Org, store.TrendByTeam: &q.Team, store.TrendByEnv: &q.Environment}[by]
		if *f != "" && *f != g {
			return store.Coverage{}
		}
		*f = g
		return mustCoverage(t, s, q)
	}
	for _, org := range append([]string{""}, labels[store.TrendByOrg]...) {
		for _, team := range append([]string{""}, labels[store.TrendByTeam]...) {
			for _, env := range append([]string{""}, labels[store.TrendByEnv]...) {
				filters := store.CoverageQuery{Org: org, Team: team, Environment: env}
				for _, by := range []string{store.TrendByOrg, store.TrendByTeam, store.TrendByEnv} {
					q := store.TrendQuery{From: day, To: day, By: by, Org: org, Team: team, Environment: env}
					points := map[string]store.Coverage{}
					for _, p := range mustTrend(t, s, q) {
						if _, dup := points[p.Group]; dup || !p.Day.Equal(day) {
							t.Errorf("Trend(%+v): unexpected point %+v", q, p)
						}
						points[p.Group] = coverageOfPoint(p)
					}
					// Deployments without a team, which no CoverageQuery singles out: t5 in acme's
					// prod.
					noTeam := by == store.TrendByTeam && team == "" && (org == "" || org == "acme") && (env == "" || env == "prod")
					if c, ok := points[""]; ok != noTeam || ok && c.Total != 1 {
						t.Errorf("Trend(%+v): the point of no team is %+v (%v), want one artifact: %v", q, c, ok, noTeam)
					}
					delete(points, "")
					for _, g := range labels[by] {
						want := coverageOf(filters, by, g)
						got, ok := points[g]
						delete(points, g)
						if !ok && want.Total == 0 {
							continue
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("Trend(%+v), group %q (-Coverage +point):\n%s", q, g, diff)
						}
					}
					for g, c := range points {
						t.Errorf("Trend(%+v): point of unknown group %q: %+v", q, g, c)
					}
				}
			}
		}
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
		{"all orgs", store.TrendQuery{From: day, To: day, By: store.TrendByEnv, Org: store.RollupAll}},
		{"all teams", store.TrendQuery{From: day, To: day, By: store.TrendByEnv, Team: store.RollupAll}},
		{"all environments", store.TrendQuery{From: day, To: day, By: store.TrendByOrg, Environment: store.RollupAll}},
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
