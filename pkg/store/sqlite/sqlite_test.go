package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/pkg/store/storetest"
)

// MustOpen opens a store at path and closes it when tb ends.
func MustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("sqlite.Open(%q): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "aspm.db") }},
		{"memory", func(*testing.T) string { return ":memory:" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return MustOpen(t, tt.path(t)) })
		})
	}
}

func TestOpenRejectsBadPath(t *testing.T) {
	for _, path := range []string{"", "aspm.db?mode=ro"} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func testEvaluation(at time.Time) store.Evaluation {
	img := evidence.ImageRef{
		Repository: "registry.example.com/apps/reopen",
		Digest:     evidence.Digest("sha256:" + strings.Repeat("ab", 32)),
	}
	dep := evidence.Deployment{Image: img, Environment: "prod", Org: "acme", Team: "pay", Workload: "api", ObservedAt: at}
	return store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: at},
		Deployments: []evidence.Deployment{dep},
		Scores: []evidence.Score{{
			Image: img, Environment: "prod", Org: "acme", Team: "pay", Level: 2, VerifiedProvenance: true,
			EvaluationID: "eval-reopen", EvaluatedAt: at,
		}},
	}
}

// TestReopen proves migrations are idempotent and the data durable: a file opened again keeps
// what was written and accepts more.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aspm.db")
	ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	first, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if err := first.WriteEvaluation(t.Context(), ev); err != nil {
		t.Fatalf("WriteEvaluation: %v", err)
	}
	want, err := first.Artifact(t.Context(), ev.Evidence.Image.Digest)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range 2 {
		s := MustOpen(t, path)
		got, err := s.Artifact(t.Context(), ev.Evidence.Image.Digest)
		if err != nil {
			t.Fatalf("Artifact after reopening %d: %v", i+1, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Artifact after reopening %d (-before +after):\n%s", i+1, diff)
		}
		if err := s.WriteEvaluation(t.Context(), ev); err != nil {
			t.Errorf("WriteEvaluation after reopening %d: %v", i+1, err)
		}
		checkMigrations(t, s)
	}
}

// checkMigrations checks that s records every embedded migration exactly once.
func checkMigrations(t *testing.T, s *sqlite.Store) {
	t.Helper()
	want, err := sqlite.MigrationVersions()
	if err != nil {
		t.Fatalf("MigrationVersions: %v", err)
	}
	got, err := sqlite.AppliedMigrations(t.Context(), s)
	if err != nil {
		t.Fatalf("AppliedMigrations: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applied migrations (-embedded +recorded):\n%s", diff)
	}
}

// TestConcurrentOpenAndWrite opens one file from several goroutines at once, as processes
// sharing a data directory would, and writes through each: migrations apply once and writers
// wait for each other instead of failing.
func TestConcurrentOpenAndWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aspm.db")
	const n = 4
	stores := make([]*sqlite.Store, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				errs[i] = err
				return
			}
			stores[i] = s
			for j := range 10 {
				ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, i*10+j, 0, time.UTC))
				if err := s.WriteEvaluation(context.Background(), ev); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("goroutine %d: %v", i, errs[i])
		}
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	s := MustOpen(t, path)
	checkMigrations(t, s)
	got, err := s.ScoreHistory(t.Context(), testEvaluation(time.Time{}).Evidence.Image.Digest)
	if err != nil {
		t.Fatalf("ScoreHistory: %v", err)
	}
	// Every write used one evaluation ID in one environment: one row, the latest evaluation.
	if len(got) != 1 || !got[0].EvaluatedAt.Equal(time.Date(2025, 3, 1, 12, 0, 39, 0, time.UTC)) {
		t.Errorf("ScoreHistory = %+v, want one score evaluated at 12:00:39", got)
	}
}

// TestDeploymentSeenRange proves a deployment keeps the earliest and the latest observation,
// whatever order observations arrive in.
func TestDeploymentSeenRange(t *testing.T) {
	s := MustOpen(t, ":memory:")
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		observed            []time.Duration // observations of one key in one evaluation
		wantFirst, wantLast time.Duration
	}{
		{[]time.Duration{time.Hour}, time.Hour, time.Hour},
		{[]time.Duration{0}, 0, time.Hour},
		{[]time.Duration{2 * time.Hour}, 0, 2 * time.Hour},
		{[]time.Duration{30 * time.Minute}, 0, 2 * time.Hour},
		{[]time.Duration{3 * time.Hour, -time.Hour}, -time.Hour, 3 * time.Hour},
	}
	for i, step := range steps {
		ev := testEvaluation(base)
		ev.Scores = nil
		dep := ev.Deployments[0]
		ev.Deployments = nil
		for _, off := range step.observed {
			dep.ObservedAt = base.Add(off)
			ev.Deployments = append(ev.Deployments, dep)
		}
		if err := s.WriteEvaluation(t.Context(), ev); err != nil {
			t.Fatalf("step %d: WriteEvaluation: %v", i, err)
		}
		first, last, err := sqlite.SeenRange(t.Context(), s, dep.Key())
		if err != nil {
			t.Fatalf("step %d: SeenRange: %v", i, err)
		}
		if !first.Equal(base.Add(step.wantFirst)) || !last.Equal(base.Add(step.wantLast)) {
			t.Errorf("step %d: seen %s to %s, want %s to %s", i, first, last, base.Add(step.wantFirst), base.Add(step.wantLast))
		}
		art, err := s.Artifact(t.Context(), dep.Image.Digest)
		if err != nil {
			t.Fatalf("step %d: Artifact: %v", i, err)
		}
		if len(art.Deployments) != 1 || !art.Deployments[0].ObservedAt.Equal(last) {
			t.Errorf("step %d: Artifact deployments = %+v, want one observed at %s", i, art.Deployments, last)
		}
	}
}

// TestUpgradeKeepsDeploymentsRunning opens a file that has the first migration only, with a
// deployment written then: after the upgrade it reads as running and counts in coverage.
func TestUpgradeKeepsDeploymentsRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aspm.db")
	schema, err := sqlite.MigrationSQL(1)
	if err != nil || schema == "" {
		t.Fatalf("MigrationSQL(1) = %q, %v", schema, err)
	}
	ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC))
	dep := ev.Deployments[0]
	at := dep.ObservedAt.UnixNano()
	old, err := sql.Open("sqlite", path) // the driver sqlite registers
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	for _, stmt := range []struct {
		query string
		args  []any
	}{
		{schema, nil},
		{`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`, nil},
		{`INSERT INTO schema_migrations VALUES (1, 'init', 0)`, nil},
		{`INSERT INTO artifacts VALUES (?, ?, ?, '[]', 0, 0)`, []any{string(dep.Image.Digest), dep.Image.Repository, at}},
		{`INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{dep.Key(), string(dep.Image.Digest),
			dep.Image.Repository, dep.Org, dep.Team, dep.Environment, dep.Cluster, dep.Namespace, dep.Workload, at, at}},
	} {
		if _, err := old.ExecContext(t.Context(), stmt.query, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.query, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("closing %s: %v", path, err)
	}

	s := MustOpen(t, path)
	checkMigrations(t, s)
	art, err := s.Artifact(t.Context(), dep.Image.Digest)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if diff := cmp.Diff([]evidence.Deployment{dep}, art.Deployments); diff != "" {
		t.Errorf("Artifact deployments after the upgrade (-want +got):\n%s", diff)
	}
	cov, err := s.Coverage(t.Context(), store.CoverageQuery{})
	if err != nil {
		t.Fatalf("Coverage: %v", err)
	}
	if cov.Total != 1 {
		t.Errorf("Coverage after the upgrade counts %d artifacts, want 1", cov.Total)
	}
}

// TestUpgradeKeepsGroupRollups opens a file that has the first six migrations only, with a day
// rolled up per (org, team, environment) group: after the upgrade, each group is the cell of its
// three labels, which a trend filtered by the two other dimensions reads, and the day has no
// other cells.
func TestUpgradeKeepsGroupRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aspm.db")
	old, err := sql.Open("sqlite", path) // the driver sqlite registers
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	if _, err := old.ExecContext(t.Context(), `CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatalf("creating schema_migrations: %v", err)
	}
	for v := 1; v <= 6; v++ {
		schema, err := sqlite.MigrationSQL(v)
		if err != nil || schema == "" {
			t.Fatalf("MigrationSQL(%d) = %q, %v", v, schema, err)
		}
		if _, err := old.ExecContext(t.Context(), schema); err != nil {
			t.Fatalf("applying migration %d: %v", v, err)
		}
		if _, err := old.ExecContext(t.Context(), `INSERT INTO schema_migrations VALUES (?, 'old', 0)`, v); err != nil {
			t.Fatalf("recording migration %d: %v", v, err)
		}
	}
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, row := range [][]any{
		{day.Unix(), "acme", "pay", "prod", 2, 0, 1, 0, 1, 1, 1},
		{day.Unix(), "acme", "web", "prod", 1, 0, 0, 1, 0, 1, 0},
	} {
		if _, err := old.ExecContext(t.Context(), `INSERT INTO coverage_rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, row...); err != nil {
			t.Fatalf("writing a roll-up: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("closing %s: %v", path, err)
	}

	s := MustOpen(t, path)
	checkMigrations(t, s)
	trend := func(q store.TrendQuery) []store.TrendPoint {
		t.Helper()
		q.From, q.To = day, day
		points, err := s.Trend(t.Context(), q)
		if err != nil {
			t.Fatalf("Trend(%+v): %v", q, err)
		}
		return points
	}
	want := []store.TrendPoint{
		{Day: day, Group: "pay", Total: 2, ByLevel: map[string]int{"L0": 0, "L1": 1, "L2": 0, "L3": 1}, VerifiedProvenance: 1, WithGaps: 1},
		{Day: day, Group: "web", Total: 1, ByLevel: map[string]int{"L0": 0, "L1": 0, "L2": 1, "L3": 0}, VerifiedProvenance: 1},
	}
	if diff := cmp.Diff(want, trend(store.TrendQuery{By: store.TrendByTeam, Org: "acme", Environment: "prod"})); diff != "" {
		t.Errorf("Trend by team of acme's prod after the upgrade (-want +got):\n%s", diff)
	}
	for _, q := range []store.TrendQuery{{By: store.TrendByOrg}, {By: store.TrendByTeam, Org: "acme"}, {By: store.TrendByEnv}} {
		if got := trend(q); len(got) != 0 {
			t.Errorf("Trend(%+v) after the upgrade = %+v, want no points: no cell of the day has a '*'", q, got)
		}
	}
}
