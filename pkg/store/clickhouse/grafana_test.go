package clickhouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
)

// The Grafana material in deploy/grafana, relative to this package.
const (
	grafanaDir     = "../../../deploy/grafana"
	composeFile    = "../../../docker-compose.yml"
	clickhousePlug = "grafana-clickhouse-datasource"
)

// TestGrafanaProvisioning checks that the provisioning files parse, that the data source is the
// ClickHouse plugin on the native protocol with the aspm database, and that docker-compose.yml
// mounts the dashboards where the dashboard provider looks for them.
func TestGrafanaProvisioning(t *testing.T) {
	ds := provisionedDatasource(t)
	if ds.Type != clickhousePlug {
		t.Errorf("data source type = %q, want %q", ds.Type, clickhousePlug)
	}
	for key, want := range map[string]string{"protocol": "native", "defaultDatabase": clickhouse.DefaultDatabase} {
		if got := ds.JSONData[key]; got != want {
			t.Errorf("data source jsonData.%s = %v, want %q", key, got, want)
		}
	}
	for _, key := range []string{"host", "port"} {
		if v, _ := ds.JSONData[key].(string); !strings.HasPrefix(v, "${") {
			t.Errorf("data source jsonData.%s = %v, want an environment variable", key, ds.JSONData[key])
		}
	}

	var providers struct {
		Providers []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	mustReadGrafanaYAML(t, filepath.Join(grafanaDir, "provisioning/dashboards/aspm.yaml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" || providers.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard providers = %+v, want one file provider with a path", providers.Providers)
	}
	compose, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	mount := "./deploy/grafana/dashboards:" + providers.Providers[0].Options.Path
	if !strings.Contains(string(compose), mount) {
		t.Errorf("docker-compose.yml does not mount %q", mount)
	}
}

// TestGrafanaDashboards runs every SQL query of every dashboard — panel targets, those of
// collapsed rows, and query variables — against a seeded ClickHouse, with the Grafana macros and
// template variables substituted for each of grafanaScenarios, and checks that each runs, returns
// rows, and agrees with what the store's Go API reports, the trend panels with store.Trend and with
// store.Coverage as it was when each day was rolled up.
func TestGrafanaDashboards(t *testing.T) {
	uid := provisionedDatasource(t).UID
	queries, allValues := grafanaQueries(t, uid)

	cfg := clickhousetest.Config(t)
	s, err := clickhouse.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	snaps := grafanaSnapshots{}
	events := seedGrafana(t, s, now, func(day time.Time) { snaps.take(t, s, day) })

	// The dashboards name no database: the data source's default database (aspm) resolves
	// their tables, here the test database.
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { conn.Close() })

	for _, sc := range grafanaScenarios {
		t.Run(sc.name, func(t *testing.T) {
			vars := map[string][]string{}
			for name, v := range sc.vars {
				vars[name] = []string{v}
			}
			g := grafanaContext{from: store.Day(now).AddDate(0, 0, -6), to: now, interval: time.Hour,
				vars: vars, all: allValues}
			results := map[string]grafanaResult{}
			for _, q := range queries {
				sql, err := g.interpolate(q.sql)
				if err != nil {
					t.Errorf("%s: %v\n%s", q.where, err, q.sql)
					continue
				}
				res, err := runGrafanaQuery(t.Context(), conn, sql)
				if err != nil {
					t.Errorf("%s: %v\n%s", q.where, err, sql)
					continue
				}
				if len(res.rows) == 0 {
					t.Errorf("%s: no rows\n%s", q.where, sql)
				}
				results[q.title] = res
			}
			checkGrafanaFigures(t, s, g, sc, events, snaps, results)
		})
	}
}

// TestGrafanaInterpolate checks the substitutions the dashboard test makes against what Grafana
// and the plugin produce (the plugin's pkg/macros and its front end's $__conditionalAll,
// Grafana's custom all values), and that anything it does not know fails.
func TestGrafanaInterpolate(t *testing.T) {
	g := grafanaContext{
		from:     time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		to:       time.Date(2025, 3, 8, 10, 0, 0, 0, time.UTC),
		interval: 30 * time.Minute,
		vars:     map[string][]string{"org": {"acme"}, "env": {"prod", "o'neil"}, "ns": {""}},
		all:      map[string]string{"app": "'*'", "org": "'*'"},
	}
	tests := []struct {
		name, sql, want string
	}{
		{"time filter", "WHERE $__timeFilter(at)", "WHERE at >= toDateTime(1740823200) AND at <= toDateTime(1741428000)"},
		{"date filter", "WHERE $__dateFilter(day)", "WHERE day >= toDate('2025-03-01') AND day <= toDate('2025-03-08')"},
		{"from and to", "$__fromTime, $__toTime", "toDateTime(1740823200), toDateTime(1741428000)"},
		{"interval", "intDiv(toUInt32(at), $__interval_s) * $__interval_s", "intDiv(toUInt32(at), 1800) * 1800"},
		{"conditional all, all", "$__conditionalAll(team IN (${team:sqlstring}), $team)", "1=1"},
		{"conditional all, chosen", "$__conditionalAll(org IN (${org:sqlstring}), ${org})", "org IN ('acme')"},
		{"conditional all, empty value", "$__conditionalAll(ns IN (${ns:sqlstring}), $ns)", "1=1"},
		{"custom all value, all", "app = ${app:sqlstring} OR app = $app", "app = '*' OR app = '*'"},
		{"custom all value, chosen", "org = ${org:sqlstring}", "org = 'acme'"},
		{"empty value", "ns = ${ns:sqlstring}", "ns = ''"},
		{"sqlstring, several", "env IN (${env:sqlstring})", "env IN ('prod','o''neil')"},
		{"plain, one value", "'$org'", "'acme'"},
		{"nested", "$__conditionalAll(f(a, (b)) AND $__timeFilter(at), $org)",
			"f(a, (b)) AND at >= toDateTime(1740823200) AND at <= toDateTime(1741428000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := g.interpolate(tt.sql)
			if err != nil {
				t.Fatalf("interpolate(%q): %v", tt.sql, err)
			}
			if got != tt.want {
				t.Errorf("interpolate(%q) = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
	for _, bad := range []string{
		"$__timeInterval(at)",             // unknown macro
		"$__timeFilter(a, b)",             // wrong arguments
		"team = $team",                    // All, without a custom all value, outside $__conditionalAll
		"$__conditionalAll(x = 1)",        // one argument
		"env IN (${env:csv})",             // unknown format
		"SELECT '$'",                      // anything left
		"$__conditionalAll(org = 1, $org", // unbalanced
	} {
		if got, err := g.interpolate(bad); err == nil {
			t.Errorf("interpolate(%q) = %q, want an error", bad, got)
		}
	}
}

// grafanaScenario is a selection of the dashboards' template variables (each single-valued),
// what the store's API is asked for the same selection, and the values each variable query lists
// under it.
type grafanaScenario struct {
	name     string
	vars     map[string]string // a variable left out is All
	want     store.CoverageQuery
	wantVars map[string][]string
}

// grafanaScenarios are the selections TestGrafanaDashboards runs every query under: All, each
// variable alone, and all three. The seed's shared artifact (see seedGrafana) is in the groups of
// each of them.
var grafanaScenarios = []grafanaScenario{
	{
		name: "all",
		wantVars: map[string][]string{
			"org": {"acme", "globex"}, "team": {"", "pay", "search", "web"}, "env": {"prod", "staging"},
		},
	},
	{
		// globex's only staging deployment ended yesterday, after the day's first roll-up.
		name: "org-globex",
		vars: map[string]string{"org": "globex"},
		want: store.CoverageQuery{Org: "globex"},
		wantVars: map[string][]string{
			"org": {"acme", "globex"}, "team": {"", "web"}, "env": {"prod"},
		},
	},
	{
		name: "team-pay",
		vars: map[string]string{"team": "pay"},
		want: store.CoverageQuery{Team: "pay"},
		wantVars: map[string][]string{
			"org": {"acme", "globex"}, "team": {"", "pay", "search", "web"}, "env": {"prod", "staging"},
		},
	},
	{
		name: "env-prod",
		vars: map[string]string{"env": "prod"},
		want: store.CoverageQuery{Environment: "prod"},
		wantVars: map[string][]string{
			"org": {"acme", "globex"}, "team": {"", "pay", "search", "web"}, "env": {"prod", "staging"},
		},
	},
	{
		name: "acme-pay-prod",
		vars: map[string]string{"org": "acme", "team": "pay", "env": "prod"},
		want: store.CoverageQuery{Org: "acme", Team: "pay", Environment: "prod"},
		wantVars: map[string][]string{
			"org": {"acme", "globex"}, "team": {"pay", "search"}, "env": {"prod", "staging"},
		},
	},
}

// matches reports whether a row with org, team and environment is in the selection.
func (sc grafanaScenario) matches(org, team, env string) bool {
	for name, v := range map[string]string{"org": org, "team": team, "env": env} {
		if want, ok := sc.vars[name]; ok && want != v {
			return false
		}
	}
	return true
}

// grafanaSnapshots is what store.Coverage returned for each query of grafanaSnapshotQueries
// right after the newest roll-up of each day (by the day's date): what a trend point of the day
// must be.
type grafanaSnapshots map[string]map[store.CoverageQuery]store.Coverage

// grafanaSnapshotQueries are the queries of each scenario, and of each scenario's filters with
// each environment: the trend panels' points.
func grafanaSnapshotQueries() []store.CoverageQuery {
	var qs []store.CoverageQuery
	for _, sc := range grafanaScenarios {
		qs = append(qs, sc.want)
		for _, env := range []string{"prod", "staging"} {
			if q := sc.want; q.Environment == "" {
				q.Environment = env
				qs = append(qs, q)
			}
		}
	}
	return qs
}

// take records the coverage of day, just rolled up, replacing what an earlier roll-up of the day
// recorded.
func (snaps grafanaSnapshots) take(t *testing.T, s *clickhouse.Store, day time.Time) {
	t.Helper()
	m := map[store.CoverageQuery]store.Coverage{}
	for _, q := range grafanaSnapshotQueries() {
		c, err := s.Coverage(t.Context(), q)
		if err != nil {
			t.Fatalf("Coverage(%+v): %v", q, err)
		}
		m[q] = c
	}
	snaps[store.Day(day).Format(time.DateOnly)] = m
}

// checkGrafanaFigures compares the dashboards' figures under sc with the store's.
func checkGrafanaFigures(t *testing.T, s *clickhouse.Store, g grafanaContext, sc grafanaScenario,
	events []store.GapEvent, snaps grafanaSnapshots, results map[string]grafanaResult) {
	ctx := t.Context()
	get := func(title string) grafanaResult {
		t.Helper()
		res, ok := results[title]
		if !ok {
			t.Fatalf("no result for %q", title)
		}
		return res
	}

	// Headline figures and the level distribution: store.Coverage.
	cov, err := s.Coverage(ctx, sc.want)
	if err != nil {
		t.Fatalf("Coverage: %v", err)
	}
	if cov.Total == 0 || cov.VerifiedProvenance == 0 || cov.WithGaps == 0 {
		t.Fatalf("Coverage(%+v) = %+v: the seed should cover this selection", sc.want, cov)
	}
	headline := map[string]float64{
		"deployed_artifacts":  get("Deployed artifacts").number(t, 0, "deployed_artifacts"),
		"verified_pct":        get("Verified provenance").number(t, 0, "verified_pct"),
		"artifacts_with_gaps": get("Artifacts with gaps").number(t, 0, "artifacts_with_gaps"),
	}
	wantHeadline := map[string]float64{
		"deployed_artifacts":  float64(cov.Total),
		"verified_pct":        100 * float64(cov.VerifiedProvenance) / float64(cov.Total),
		"artifacts_with_gaps": float64(cov.WithGaps),
	}
	if diff := cmp.Diff(wantHeadline, headline, grafanaApprox); diff != "" {
		t.Errorf("headline (-store +dashboard):\n%s", diff)
	}
	levels := map[string]int{}
	dist := get("SLSA level distribution")
	for _, l := range []string{"L0", "L1", "L2", "L3"} {
		levels[l] = int(dist.number(t, 0, l))
	}
	if diff := cmp.Diff(cov.ByLevel, levels); diff != "" {
		t.Errorf("SLSA level distribution (-store.Coverage +dashboard):\n%s", diff)
	}
	// Per group: store.Coverage of the group, unless its team is empty, which a CoverageQuery
	// cannot ask for (it matches every team); the trend checks below cover those rows.
	table := get("Coverage by team and environment")
	for i := range table.rows {
		q := store.CoverageQuery{Org: table.text(t, i, "org"), Team: table.text(t, i, "team"), Environment: table.text(t, i, "environment")}
		if q.Team == "" {
			continue
		}
		c, err := s.Coverage(ctx, q)
		if err != nil {
			t.Fatalf("Coverage: %v", err)
		}
		got := [3]int{int(table.number(t, i, "artifacts")), int(table.number(t, i, "verified_artifacts")),
			int(table.number(t, i, "artifacts_with_gaps"))}
		if want := [3]int{c.Total, c.VerifiedProvenance, c.WithGaps}; got != want {
			t.Errorf("coverage of %+v: dashboard (artifacts, verified, with gaps) = %v, store = %v", q, got, want)
		}
	}

	// The coverage table is per group: an artifact deployed in several groups is in each of their
	// rows, and counts once in the headline.
	if len(sc.vars) == 0 {
		groups := 0
		for i := range table.rows {
			groups += int(table.number(t, i, "artifacts"))
		}
		if groups != grafanaGroupsAll || cov.Total != grafanaRunningAll {
			t.Errorf("under All: %d artifacts over the groups of the coverage table and %d deployed, want %d and %d",
				groups, cov.Total, grafanaGroupsAll, grafanaRunningAll)
		}
	}

	// The trend panels read the roll-ups' cube, as store.Trend does: each point is what
	// store.Coverage returned, at the day's newest roll-up, for the selection (and the point's
	// environment), which counts an artifact once however many groups it runs in.
	rolled := slices.Sorted(maps.Keys(snaps))
	if len(rolled) != 4 {
		t.Fatalf("%d days rolled up, want 4", len(rolled))
	}
	today := store.Day(g.to).Format(time.DateOnly)
	points, err := s.Trend(ctx, store.TrendQuery{From: g.from, To: g.to, By: store.TrendByEnv,
		Org: sc.want.Org, Team: sc.want.Team, Environment: sc.want.Environment})
	if err != nil {
		t.Fatalf("Trend: %v", err)
	}
	trendPoints, wantPoints := map[string]store.Coverage{}, map[string]store.Coverage{}
	wantPct, envsToday, totals := map[string]float64{}, 0, 0
	for _, p := range points {
		day := p.Day.Format(time.DateOnly)
		trendPoints[day+" "+p.Group] = store.Coverage{Total: p.Total, ByLevel: p.ByLevel,
			VerifiedProvenance: p.VerifiedProvenance, WithGaps: p.WithGaps}
		wantPct[day+" "+p.Group] = 100 * float64(p.VerifiedProvenance) / float64(p.Total)
		if day == today {
			envsToday++
			totals += p.Total
		}
	}
	for _, day := range rolled {
		for _, env := range []string{"prod", "staging"} {
			q := sc.want
			if q.Environment != "" && q.Environment != env {
				continue
			}
			q.Environment = env
			if c := snaps[day][q]; c.Total > 0 {
				wantPoints[day+" "+env] = store.Coverage{Total: c.Total, ByLevel: c.ByLevel,
					VerifiedProvenance: c.VerifiedProvenance, WithGaps: c.WithGaps}
			}
		}
	}
	if diff := cmp.Diff(wantPoints, trendPoints); diff != "" {
		t.Errorf("store.Trend by environment (-store.Coverage at roll-up +store.Trend):\n%s", diff)
	}
	gotPct := map[string]float64{}
	trend := get("Verified provenance coverage by environment")
	for i := range trend.rows {
		day := trend.time(t, i, "time").Format(time.DateOnly)
		gotPct[day+" "+trend.text(t, i, "environment")] = trend.number(t, i, "verified_pct")
	}
	if diff := cmp.Diff(wantPct, gotPct, grafanaApprox); diff != "" {
		t.Errorf("coverage trend by environment (-store.Trend +dashboard):\n%s", diff)
	}

	wantLevels, gotLevels := map[string]map[string]int{}, map[string]map[string]int{}
	for _, day := range rolled {
		wantLevels[day] = snaps[day][sc.want].ByLevel
	}
	byLevel := get("Deployed artifacts by SLSA level")
	for i := range byLevel.rows {
		day := byLevel.time(t, i, "time").Format(time.DateOnly)
		gotLevels[day] = map[string]int{}
		for _, l := range []string{"L0", "L1", "L2", "L3"} {
			gotLevels[day][l] = int(byLevel.number(t, i, l))
		}
	}
	if diff := cmp.Diff(wantLevels, gotLevels); diff != "" {
		t.Errorf("levels trend (-store.Coverage at roll-up +dashboard):\n%s", diff)
	}
	// Nothing changed since today's roll-up: today's point is the level distribution now.
	if diff := cmp.Diff(cov.ByLevel, gotLevels[today]); diff != "" {
		t.Errorf("levels trend today (-store.Coverage now +dashboard):\n%s", diff)
	}
	totalToday := 0
	for _, n := range gotLevels[today] {
		totalToday += n
	}
	if len(sc.vars) == 0 && totalToday != grafanaRunningAll {
		t.Errorf("levels trend today under All: %d artifacts, want the %d running, the shared one once",
			totalToday, grafanaRunningAll)
	}
	// Where the selection runs in both environments, the seed deploys an artifact in both:
	// summing the environments' points, as the panel did before it read the cube, counts it twice.
	if envsToday > 1 && totals <= totalToday {
		t.Errorf("today: %d artifacts over the environments' points, %d in all: the seed should deploy one in both",
			totals, totalToday)
	}

	// The gap panels: the open gaps of the store's feed.
	open := grafanaOpenGaps(t, s, sc.want)
	if len(open) == 0 {
		t.Fatalf("no open gaps for %+v: the seed should have some", sc.want)
	}
	if got := get("Open gaps").number(t, 0, "open_gaps"); int(got) != len(open) {
		t.Errorf("open gaps = %v, store.Gaps lists %d", got, len(open))
	}
	wantByOwner, wantByAge, wantByCode := map[string]int{}, map[string]int{}, map[string]int{}
	for _, item := range open {
		owner := item.Team
		if owner == "" {
			owner = "(no team)"
		}
		wantByOwner[item.Org+" / "+owner+" "+item.Severity]++
		wantByAge[grafanaAgeBucket(g.to.Sub(item.OpenedAt))]++
		wantByCode[item.Code]++
	}
	gotByOwner := map[string]int{}
	owners := get("Open gaps by team")
	for i := range owners.rows {
		for _, sev := range []string{"critical", "high", "medium", "low", "other"} {
			if n := int(owners.number(t, i, sev)); n > 0 {
				gotByOwner[owners.text(t, i, "owner")+" "+sev] = n
			}
		}
	}
	if diff := cmp.Diff(wantByOwner, gotByOwner); diff != "" {
		t.Errorf("open gaps by team and severity (-store.Gaps +dashboard):\n%s", diff)
	}
	gotByAge := map[string]int{}
	ages := get("Open gaps by age")
	for i := range ages.rows {
		gotByAge[ages.text(t, i, "age_bucket")] = int(ages.number(t, i, "open_gaps"))
	}
	if diff := cmp.Diff(wantByAge, gotByAge); diff != "" {
		t.Errorf("open gaps by age (-store.Gaps +dashboard):\n%s", diff)
	}
	gotByCode := map[string]int{}
	codes := get("Gap age by code")
	for i := range codes.rows {
		gotByCode[codes.text(t, i, "code")] = int(codes.number(t, i, "open_gaps"))
		if med, oldest := codes.number(t, i, "median_age_days"), codes.number(t, i, "oldest_days"); med < 0 || med > oldest {
			t.Errorf("gap age of %s: median %v days, oldest %v days", codes.text(t, i, "code"), med, oldest)
		}
	}
	if diff := cmp.Diff(wantByCode, gotByCode); diff != "" {
		t.Errorf("open gaps by code (-store.Gaps +dashboard):\n%s", diff)
	}
	var wantOldest, gotOldest []string
	for _, item := range open[:min(len(open), 50)] {
		wantOldest = append(wantOldest, string(item.Image.Digest)+" "+item.Environment+" "+item.Code)
	}
	oldest := get("Oldest open gaps")
	for i := range oldest.rows {
		gotOldest = append(gotOldest, oldest.text(t, i, "digest")+" "+oldest.text(t, i, "environment")+" "+oldest.text(t, i, "code"))
	}
	if diff := cmp.Diff(wantOldest, gotOldest); diff != "" {
		t.Errorf("oldest open gaps (-store.Gaps order +dashboard):\n%s", diff)
	}

	// Gap events over time: the events seeded in the time range.
	wantEvents := map[string]int{}
	for _, e := range events {
		if !e.At.Before(g.from.Truncate(time.Second)) && !e.At.After(g.to) && sc.matches(e.Org, e.Team, e.Environment) {
			wantEvents[e.State]++
		}
	}
	gotEvents := map[string]int{}
	history := get("Gap events")
	for i := range history.rows {
		for _, state := range []string{store.GapOpened, store.GapClosed} {
			if n := int(history.number(t, i, state)); n > 0 {
				gotEvents[state] += n
			}
		}
	}
	if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
		t.Errorf("gap events in range (-seeded +dashboard):\n%s", diff)
	}

	// Query variables list what runs under the selection of the variables they depend on.
	for name, want := range sc.wantVars {
		res := get("$" + name)
		var got []string
		for i := range res.rows {
			got = append(got, res.text(t, i, res.cols[0]))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("variable %s values (-want +got):\n%s", name, diff)
		}
	}
}

// grafanaApprox compares floats to 1e-9.
var grafanaApprox = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })

// grafanaAgeBucket is the "Open gaps by age" bucket of age.
func grafanaAgeBucket(age time.Duration) string {
	switch days := age.Hours() / 24; {
	case days < 1:
		return "< 1 day"
	case days < 7:
		return "1-7 days"
	case days < 30:
		return "7-30 days"
	case days < 90:
		return "30-90 days"
	}
	return "90+ days"
}

// grafanaOpenGaps returns every open gap of the store's feed matching q, in feed order.
func grafanaOpenGaps(t *testing.T, s *clickhouse.Store, q store.CoverageQuery) []store.GapItem {
	t.Helper()
	var all []store.GapItem
	gq := store.GapQuery{State: store.GapStateOpen, Org: q.Org, Team: q.Team, Environment: q.Environment, Limit: store.MaxPageLimit}
	for {
		items, next, err := s.Gaps(t.Context(), gq)
		if err != nil {
			t.Fatalf("Gaps: %v", err)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		gq.After = next
	}
}

// --- Seeding ---------------------------------------------------------------------------------

// grafanaSeverity is the catalogue severity of the gap codes the seed uses.
var grafanaSeverity = map[string]string{
	"provenance.missing": "high", "provenance.unsigned": "high", "level.below_required": "high",
	"signature.invalid": "critical", "builder.self_hosted_runner": "medium", "sbom.missing": "medium",
	"source.unpinned": "low", "tlog.missing": "low",
}

// grafanaArtifact is an artifact deployed for one org and team.
type grafanaArtifact struct {
	img       evidence.ImageRef
	org, team string
}

func newGrafanaArtifact(n int, name, org, team string) grafanaArtifact {
	return grafanaArtifact{
		img: evidence.ImageRef{
			Repository: "registry.example.com/" + org + "/" + name,
			Digest:     evidence.Digest(fmt.Sprintf("sha256:%064x", n)),
		},
		org: org, team: team,
	}
}

// grafanaPlace is where an artifact runs and how it scores there.
type grafanaPlace struct {
	env      string
	org      string // the deployment's org and team, when not the artifact's
	team     string
	level    evidence.Level
	verified bool
	gaps     []string
	unscored bool       // no score of its own: the environment is unscored, or scored by another place
	ended    *time.Time // the deployment ended then
}

// evaluation is one evaluation of a, at at, deployed and scored in places. Scores are per
// environment: of several places in one environment, all but one are unscored.
func (a grafanaArtifact) evaluation(at time.Time, id string, places ...grafanaPlace) store.Evaluation {
	ev := store.Evaluation{Evidence: evidence.ArtifactEvidence{Image: a.img, CollectedAt: at}}
	for _, p := range places {
		org, team, namespace := a.org, a.team, a.org
		if p.org != "" {
			org, namespace = p.org, p.org
		}
		if p.team != "" {
			// A deployment's key does not include its team: another namespace for another team.
			team, namespace = p.team, p.team
		}
		ev.Deployments = append(ev.Deployments, evidence.Deployment{
			Image: a.img, Environment: p.env, Org: org, Team: team, Cluster: p.env + "-1", Namespace: namespace,
			Workload: strings.TrimPrefix(a.img.Repository, "registry.example.com/"+a.org+"/"), ObservedAt: at,
			EndedAt: p.ended,
		})
		if p.unscored {
			continue
		}
		sc := evidence.Score{
			Image: a.img, Environment: p.env, Org: a.org, Team: a.team, Level: p.level,
			VerifiedProvenance: p.verified, EvaluationID: id, EvaluatedAt: at, Gaps: []evidence.Gap{},
		}
		for _, code := range p.gaps {
			sc.Gaps = append(sc.Gaps, evidence.Gap{Code: code, Severity: grafanaSeverity[code],
				Message: code + " found", Rule: "data.aspm.gaps"})
			sc.Risk = min(100, sc.Risk+25)
		}
		ev.Scores = append(ev.Scores, sc)
	}
	return ev
}

// gapEvent is the event of gap code of a in env opening or closing (state) at at.
func (a grafanaArtifact) gapEvent(env, code, state, id string, at time.Time) store.GapEvent {
	return store.GapEvent{
		Fingerprint: event.GapFingerprint(a.img.Digest, env, code), Image: a.img, Environment: env,
		Org: a.org, Team: a.team, State: state, At: at, EvaluationID: id,
		Gap: evidence.Gap{Code: code, Severity: grafanaSeverity[code], Message: code + " found", Rule: "data.aspm.gaps"},
	}
}

// The seed's running artifacts today, and the (org, team, environment) groups they are in,
// summed over the groups: the shared artifact (a10) is in four, a1 in two.
const (
	grafanaRunningAll = 9
	grafanaGroupsAll  = 13
)

// seedGrafana writes four days of history through the store's API — two orgs, four teams (one
// of them none), two environments — rolling coverage up each day and calling rolled with the day
// after each roll-up, and returns the gap events it wrote. On the day before today it rolls up
// twice, and a deployment ends in between, so that the only group of globex in staging is in the
// day's first run but not in its newest one. One artifact, a10, is shared: deployed in two orgs,
// two teams of one of them and two environments, so that every panel that counts across groups
// would count it more than once if it summed them.
func seedGrafana(t *testing.T, s *clickhouse.Store, now time.Time, rolled func(day time.Time)) []store.GapEvent {
	t.Helper()
	ctx := t.Context()
	today := store.Day(now)
	hours := func(h float64) time.Time { return now.Add(-time.Duration(h * float64(time.Hour))) }
	days := func(d float64) time.Time { return hours(24 * d) }

	a1 := newGrafanaArtifact(1, "checkout", "acme", "pay")
	a2 := newGrafanaArtifact(2, "ledger", "acme", "pay")
	a3 := newGrafanaArtifact(3, "indexer", "acme", "search")
	a4 := newGrafanaArtifact(4, "crawler", "acme", "search")
	a5 := newGrafanaArtifact(5, "frontend", "globex", "web")
	a6 := newGrafanaArtifact(6, "preview", "globex", "web")
	a7 := newGrafanaArtifact(7, "refunds", "acme", "pay")
	a8 := newGrafanaArtifact(8, "batch", "globex", "")
	a9 := newGrafanaArtifact(9, "payouts", "acme", "pay")
	a10 := newGrafanaArtifact(10, "auth", "acme", "pay")

	var events []store.GapEvent
	write := func(evs ...store.Evaluation) {
		t.Helper()
		for _, ev := range evs {
			if err := s.WriteEvaluation(ctx, ev); err != nil {
				t.Fatalf("WriteEvaluation(%s): %v", ev.Evidence.Image.Repository, err)
			}
		}
	}
	gapEvents := func(es ...store.GapEvent) {
		t.Helper()
		if err := s.WriteGapEvents(ctx, es); err != nil {
			t.Fatalf("WriteGapEvents: %v", err)
		}
		events = append(events, es...)
	}
	rollup := func(daysAgo int) {
		t.Helper()
		day := today.AddDate(0, 0, -daysAgo)
		if err := s.RollupCoverage(ctx, day); err != nil {
			t.Fatalf("RollupCoverage: %v", err)
		}
		rolled(day)
	}

	// Three days ago.
	write(
		a1.evaluation(days(3), "e1", grafanaPlace{env: "prod", level: 3, verified: true}, grafanaPlace{env: "staging", level: 3, verified: true}),
		a2.evaluation(days(3), "e2", grafanaPlace{env: "prod", level: 1, gaps: []string{"provenance.unsigned", "level.below_required"}}),
		a3.evaluation(days(3), "e3", grafanaPlace{env: "prod", level: 2, verified: true, gaps: []string{"source.unpinned"}}),
		a4.evaluation(days(3), "e4", grafanaPlace{env: "staging", gaps: []string{"provenance.missing", "sbom.missing"}}),
		a5.evaluation(days(3), "e5", grafanaPlace{env: "prod", level: 3, verified: true}),
		a6.evaluation(days(3), "e6", grafanaPlace{env: "staging", gaps: []string{"provenance.missing"}}),
		a10.evaluation(days(3), "e10",
			grafanaPlace{env: "prod", level: 3, verified: true},
			grafanaPlace{env: "prod", team: "search", unscored: true},
			grafanaPlace{env: "prod", org: "globex", team: "web", unscored: true},
			grafanaPlace{env: "staging", level: 1, gaps: []string{"sbom.missing"}}),
	)
	gapEvents(
		a2.gapEvent("prod", "provenance.unsigned", store.GapOpened, "e2-old", days(120)),
		a2.gapEvent("prod", "level.below_required", store.GapOpened, "e2-old", days(45)),
		a3.gapEvent("prod", "source.unpinned", store.GapOpened, "e3-old", days(10)),
		a4.gapEvent("staging", "provenance.missing", store.GapOpened, "e4-old", days(20)),
		a4.gapEvent("staging", "sbom.missing", store.GapOpened, "e4", days(3)),
		a6.gapEvent("staging", "provenance.missing", store.GapOpened, "e6", days(3)),
	)
	rollup(3)

	// Two days ago.
	write(
		a7.evaluation(days(2), "e7", grafanaPlace{env: "staging", unscored: true}),
		a8.evaluation(hours(6), "e8", grafanaPlace{env: "prod", level: 1, verified: true,
			gaps: []string{"builder.self_hosted_runner", "signature.invalid"}}),
	)
	gapEvents(
		a8.gapEvent("prod", "builder.self_hosted_runner", store.GapOpened, "e8", hours(6)),
		a8.gapEvent("prod", "signature.invalid", store.GapOpened, "e8", hours(6)),
	)
	rollup(2)

	// Yesterday: a roll-up, then globex's only staging deployment ends, then the day's newest.
	rollup(1)
	ended := days(1)
	write(a6.evaluation(days(1).Add(-time.Hour), "e6b", grafanaPlace{env: "staging", gaps: []string{"provenance.missing"}, ended: &ended}))
	rollup(1)

	// Today: a4 gets verified provenance, which closes one of its gaps; a9 is deployed.
	write(
		a4.evaluation(hours(3), "e4b", grafanaPlace{env: "staging", level: 2, verified: true, gaps: []string{"sbom.missing"}}),
		a9.evaluation(hours(1), "e9", grafanaPlace{env: "prod", level: 2, verified: true, gaps: []string{"tlog.missing"}}),
	)
	gapEvents(
		a4.gapEvent("staging", "provenance.missing", store.GapClosed, "e4b", hours(3)),
		a9.gapEvent("prod", "tlog.missing", store.GapOpened, "e9", hours(1)),
	)
	rollup(0)
	return events
}

// --- Dashboards ------------------------------------------------------------------------------

// grafanaDatasource is a provisioned data source.
type grafanaDatasource struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	UID      string         `json:"uid"`
	JSONData map[string]any `json:"jsonData"`
}

// provisionedDatasource returns the one data source provisioned in deploy/grafana.
func provisionedDatasource(t *testing.T) grafanaDatasource {
	t.Helper()
	var file struct {
		APIVersion  int                 `json:"apiVersion"`
		Datasources []grafanaDatasource `json:"datasources"`
	}
	mustReadGrafanaYAML(t, filepath.Join(grafanaDir, "provisioning/datasources/clickhouse.yaml"), &file)
	if file.APIVersion != 1 || len(file.Datasources) != 1 || file.Datasources[0].UID == "" {
		t.Fatalf("datasource provisioning: apiVersion %d, datasources %+v: want apiVersion 1 and one data source with a uid",
			file.APIVersion, file.Datasources)
	}
	return file.Datasources[0]
}

func mustReadGrafanaYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

// The parts of Grafana's dashboard JSON model the tests read.
type (
	grafanaDashboard struct {
		UID        string         `json:"uid"`
		Title      string         `json:"title"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []grafanaVariable `json:"list"`
		} `json:"templating"`
	}
	grafanaPanel struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource *grafanaDSRef   `json:"datasource"`
		Targets    []grafanaTarget `json:"targets"`
		Panels     []grafanaPanel  `json:"panels"` // a collapsed row's
	}
	grafanaTarget struct {
		RefID      string        `json:"refId"`
		Datasource *grafanaDSRef `json:"datasource"`
		EditorType string        `json:"editorType"`
		QueryType  string        `json:"queryType"`
		Format     *int          `json:"format"`
		RawSQL     string        `json:"rawSql"`
	}
	grafanaVariable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Datasource *grafanaDSRef   `json:"datasource"`
		Query      json.RawMessage `json:"query"`
		Multi      bool            `json:"multi"`
		IncludeAll bool            `json:"includeAll"`
		AllValue   string          `json:"allValue"`
	}
	grafanaDSRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
)

// grafanaQuery is one SQL query of a dashboard; its title names a panel, or a variable as
// "$name".
type grafanaQuery struct {
	where, title, sql string
}

// grafanaAllValue is the value of a dashboard variable set to All: the coverage cells' label
// for every org, team or environment, as a string literal.
const grafanaAllValue = "'" + store.RollupAll + "'"

// grafanaQueries parses every dashboard, checks that each panel and query uses the
// provisioned data source uid (a ClickHouse SQL query of the plugin's v4 model), that each
// variable is single-valued with an All option standing for grafanaAllValue, and that no query
// uses $__conditionalAll, and returns every query — panel targets, those of collapsed rows, and
// query variables — and the custom all value of each variable.
//
// The trend panels read one cell of the roll-ups' cube per group, which exists for one value
// or for all of them ('*'): a selection of several values would have to sum cells, counting an
// artifact in two of them twice. The plugin's $__conditionalAll takes the empty value (the
// deployments without a team) for All.
func grafanaQueries(t *testing.T, uid string) ([]grafanaQuery, map[string]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v)", grafanaDir, err)
	}
	var queries []grafanaQuery
	allValues := map[string]string{}
	titles := map[string]string{}
	checkDS := func(where string, ref *grafanaDSRef) {
		t.Helper()
		if ref == nil || ref.Type != clickhousePlug || ref.UID != uid {
			t.Errorf("%s: datasource %+v, want {type %s, uid %s}", where, ref, clickhousePlug, uid)
		}
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("parsing %s: %v", file, err)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: dashboard without uid or title", file)
		}
		ids := map[int]bool{}
		var walk func(panels []grafanaPanel)
		walk = func(panels []grafanaPanel) {
			for _, p := range panels {
				where := fmt.Sprintf("%s: panel %d %q", filepath.Base(file), p.ID, p.Title)
				if ids[p.ID] {
					t.Errorf("%s: duplicate panel id", where)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					walk(p.Panels)
					continue
				}
				checkDS(where, p.Datasource)
				if len(p.Targets) == 0 {
					t.Errorf("%s: no queries", where)
				}
				for _, tg := range p.Targets {
					where := where + " target " + tg.RefID
					checkDS(where, tg.Datasource)
					wantFormat := map[string]int{"table": 1, "timeSeries": 0}
					if f, ok := wantFormat[tg.QueryType]; !ok || tg.Format == nil || *tg.Format != f || tg.EditorType != "sql" {
						t.Errorf("%s: editorType %q, queryType %q, format %v: want a SQL query, table (1) or timeSeries (0)",
							where, tg.EditorType, tg.QueryType, tg.Format)
					}
					if strings.TrimSpace(tg.RawSQL) == "" {
						t.Errorf("%s: empty rawSql", where)
						continue
					}
					queries = append(queries, grafanaQuery{where: where, title: p.Title, sql: tg.RawSQL})
					if prev, dup := titles[p.Title]; dup {
						t.Errorf("%s: title also used by %s", where, prev)
					}
					titles[p.Title] = where
				}
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			where := fmt.Sprintf("%s: variable %s", filepath.Base(file), v.Name)
			if v.Multi || !v.IncludeAll || v.AllValue != grafanaAllValue {
				t.Errorf("%s: multi %v, includeAll %v, allValue %q: want one value or All, standing for %s",
					where, v.Multi, v.IncludeAll, v.AllValue, grafanaAllValue)
			}
			allValues[v.Name] = v.AllValue
			if v.Type != "query" {
				continue
			}
			checkDS(where, v.Datasource)
			var sql string
			if err := json.Unmarshal(v.Query, &sql); err != nil {
				var obj struct {
					RawSQL string `json:"rawSql"`
				}
				if err := json.Unmarshal(v.Query, &obj); err != nil {
					t.Errorf("%s: query is neither SQL nor an object with rawSql: %s", where, v.Query)
					continue
				}
				sql = obj.RawSQL
			}
			queries = append(queries, grafanaQuery{where: where, title: "$" + v.Name, sql: sql})
		}
	}
	for _, q := range queries {
		if strings.Contains(q.sql, "$__conditionalAll") {
			t.Errorf("%s: uses $__conditionalAll, which takes '' for All: compare with %s instead", q.where, grafanaAllValue)
		}
	}
	return queries, allValues
}

// --- Grafana's substitutions -----------------------------------------------------------------

// grafanaContext is what Grafana and the ClickHouse plugin substitute into a query: the time
// range, the interval, the values of the template variables (a variable left out is All), and
// their custom all values.
type grafanaContext struct {
	from, to time.Time
	interval time.Duration
	vars     map[string][]string
	all      map[string]string // substituted as they are, whatever the format, for a variable set to All
}

var (
	grafanaCondAllVar = regexp.MustCompile(`^\$(\w+)$|^\$\{(\w+)\}$`)
	grafanaVarRef     = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)
	grafanaMacro      = regexp.MustCompile(`\$__(\w+)`)
)

// interpolate substitutes what Grafana would in sql, in the plugin's order: the front end's
// $__conditionalAll(condition, $var) (1=1 when var is All or empty), then template variables (a
// variable set to All as its custom all value, unformatted, as Grafana does), then the back
// end's macros. It fails on a macro or variable it does not know, on a variable that is All
// without a custom all value outside $__conditionalAll, and on anything left that looks like one.
func (g grafanaContext) interpolate(sql string) (string, error) {
	const condAll = "$__conditionalAll("
	for {
		i := strings.LastIndex(sql, condAll)
		if i < 0 {
			break
		}
		args, end, err := grafanaMacroArgs(sql, i+len(condAll)-1)
		if err != nil || len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll at %d: want (condition, $variable): %v", i, err)
		}
		m := grafanaCondAllVar.FindStringSubmatch(strings.TrimSpace(args[1]))
		if m == nil {
			return "", fmt.Errorf("$__conditionalAll(%s, %s): the second argument is not a variable", args[0], args[1])
		}
		phrase := args[0]
		if vals, set := g.vars[m[1]+m[2]]; !set || len(vals) == 1 && vals[0] == "" {
			phrase = "1=1"
		}
		sql = sql[:i] + phrase + sql[end:]
	}

	var err error
	sql = grafanaVarRef.ReplaceAllStringFunc(sql, func(ref string) string {
		m := grafanaVarRef.FindStringSubmatch(ref)
		name, format := m[1]+m[3], m[2]
		if strings.HasPrefix(name, "__") {
			return ref // a macro, for the back end
		}
		vals, set := g.vars[name]
		if !set {
			if all, ok := g.all[name]; ok {
				return all
			}
			err = fmt.Errorf("variable %s is All outside $__conditionalAll", ref)
			return ref
		}
		switch format {
		case "sqlstring":
			quoted := make([]string, len(vals))
			for i, v := range vals {
				quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			return strings.Join(quoted, ",")
		case "":
			if len(vals) == 1 { // the plugin's format: a single value as it is
				return vals[0]
			}
			return "'" + strings.Join(vals, "','") + "'"
		}
		err = fmt.Errorf("variable %s: format %q not supported here", ref, format)
		return ref
	})
	if err != nil {
		return "", err
	}

	var out strings.Builder
	for {
		loc := grafanaMacro.FindStringSubmatchIndex(sql)
		if loc == nil {
			break
		}
		out.WriteString(sql[:loc[0]])
		name, rest := sql[loc[2]:loc[3]], sql[loc[1]:]
		var args []string
		if strings.HasPrefix(rest, "(") {
			a, end, err := grafanaMacroArgs(rest, 0)
			if err != nil {
				return "", fmt.Errorf("$__%s: %w", name, err)
			}
			args, rest = a, rest[end:]
		}
		text, err := g.macro(name, args)
		if err != nil {
			return "", err
		}
		out.WriteString(text)
		sql = rest
	}
	out.WriteString(sql)
	if s := out.String(); strings.Contains(s, "$") {
		return "", fmt.Errorf("left unsubstituted in:\n%s", s)
	}
	return out.String(), nil
}

// macro expands the plugin's back-end macro name with args, as its pkg/macros does.
func (g grafanaContext) macro(name string, args []string) (string, error) {
	dateTime := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	date := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format(time.DateOnly)) }
	oneArg := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("$__%s: want 1 argument, got %q", name, args)
		}
		return strings.TrimSpace(args[0]), nil
	}
	switch name {
	case "fromTime":
		return dateTime(g.from), nil
	case "toTime":
		return dateTime(g.to), nil
	case "interval_s":
		return strconv.Itoa(max(int(g.interval.Seconds()), 1)), nil
	case "timeFilter":
		col, err := oneArg()
		return fmt.Sprintf("%s >= %s AND %s <= %s", col, dateTime(g.from), col, dateTime(g.to)), err
	case "dateFilter":
		col, err := oneArg()
		return fmt.Sprintf("%s >= %s AND %s <= %s", col, date(g.from), col, date(g.to)), err
	}
	return "", fmt.Errorf("macro $__%s not supported here", name)
}

// grafanaMacroArgs splits the parenthesised arguments starting at sql[open] at their top-level commas,
// and returns the index just after the closing parenthesis.
func grafanaMacroArgs(sql string, open int) (args []string, end int, err error) {
	depth, start := 0, open+1
	for i := open; i < len(sql); i++ {
		switch sql[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, sql[start:i]), i + 1, nil
			}
		case ',':
			if depth == 1 {
				args = append(args, sql[start:i])
				start = i + 1
			}
		}
	}
	return nil, 0, fmt.Errorf("unbalanced parentheses")
}

// --- Running queries -------------------------------------------------------------------------

// grafanaResult is every row of a query, by column.
type grafanaResult struct {
	cols []string
	rows [][]any
}

func runGrafanaQuery(ctx context.Context, conn driver.Conn, sql string) (grafanaResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return grafanaResult{}, err
	}
	defer rows.Close()
	res := grafanaResult{cols: rows.Columns()}
	types := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return grafanaResult{}, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		res.rows = append(res.rows, row)
	}
	return res, rows.Err()
}

// value returns column col of row i.
func (r grafanaResult) value(t *testing.T, i int, col string) any {
	t.Helper()
	c := slices.Index(r.cols, col)
	if c < 0 {
		t.Fatalf("no column %q in %v", col, r.cols)
	}
	if i >= len(r.rows) {
		t.Fatalf("no row %d (of %d)", i, len(r.rows))
	}
	return r.rows[i][c]
}

// number returns column col of row i, a number, as a float64.
func (r grafanaResult) number(t *testing.T, i int, col string) float64 {
	t.Helper()
	switch v := reflect.ValueOf(r.value(t, i, col)); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	default:
		t.Fatalf("column %s is a %s, not a number", col, v.Type())
		return 0
	}
}

func (r grafanaResult) text(t *testing.T, i int, col string) string {
	t.Helper()
	s, ok := r.value(t, i, col).(string)
	if !ok {
		t.Fatalf("column %s is a %T, not a string", col, r.value(t, i, col))
	}
	return s
}

func (r grafanaResult) time(t *testing.T, i int, col string) time.Time {
	t.Helper()
	ts, ok := r.value(t, i, col).(time.Time)
	if !ok {
		t.Fatalf("column %s is a %T, not a time", col, r.value(t, i, col))
	}
	return ts.UTC()
}
