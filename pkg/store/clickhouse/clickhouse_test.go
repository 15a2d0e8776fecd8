package clickhouse_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return clickhousetest.Open(t) })
}

func testEvaluation(at time.Time) store.Evaluation {
	img := evidence.ImageRef{
		Repository: "registry.example.com/apps/reopen",
		Digest:     evidence.Digest("sha256:" + strings.Repeat("cd", 32)),
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

func mustOpen(t *testing.T, cfg clickhouse.Config) *clickhouse.Store {
	t.Helper()
	s, err := clickhouse.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Database, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestReopen opens one database twice: the second Open finds every migration applied and the
// data written through the first.
func TestReopen(t *testing.T) {
	cfg := clickhousetest.Config(t)
	ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	first := mustOpen(t, cfg)
	if err := first.WriteEvaluation(t.Context(), ev); err != nil {
		t.Fatalf("WriteEvaluation: %v", err)
	}
	want, err := first.Artifact(t.Context(), ev.Evidence.Image.Digest)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	second := mustOpen(t, cfg)
	got, err := second.Artifact(t.Context(), ev.Evidence.Image.Digest)
	if err != nil {
		t.Fatalf("Artifact after reopening: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Artifact after reopening (-before +after):\n%s", diff)
	}
	checkMigrations(t, second)
}

// checkMigrations checks that s records every embedded migration exactly once.
func checkMigrations(t *testing.T, s *clickhouse.Store) {
	t.Helper()
	want, err := clickhouse.MigrationVersions()
	if err != nil {
		t.Fatalf("MigrationVersions: %v", err)
	}
	got, err := clickhouse.AppliedMigrations(t.Context(), s)
	if err != nil {
		t.Fatalf("AppliedMigrations: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applied migrations (-embedded +recorded):\n%s", diff)
	}
}

// TestConcurrentOpen starts two stores on one new database at once, as two scorer replicas
// would: both create the database and apply the migrations, and both work afterwards.
func TestConcurrentOpen(t *testing.T) {
	cfg := clickhousetest.Config(t)
	const n = 2
	var wg sync.WaitGroup
	stores := make([]*clickhouse.Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = clickhouse.Open(t.Context(), cfg) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i+1, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	checkMigrations(t, stores[0])
	for i, s := range stores {
		ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, i, 0, time.UTC))
		if err := s.WriteEvaluation(t.Context(), ev); err != nil {
			t.Fatalf("WriteEvaluation through store %d: %v", i+1, err)
		}
	}
	history, err := stores[0].ScoreHistory(t.Context(), testEvaluation(time.Time{}).Evidence.Image.Digest)
	if err != nil {
		t.Fatalf("ScoreHistory: %v", err)
	}
	// Both writes share one evaluation ID and environment: one row, the later evaluation.
	if len(history) != 1 || !history[0].EvaluatedAt.Equal(time.Date(2025, 3, 1, 12, 0, 1, 0, time.UTC)) {
		t.Errorf("ScoreHistory = %+v, want one score evaluated at 12:00:01", history)
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n  -- b;\n", nil},
		{"one", "CREATE TABLE a (x UInt8) ENGINE = Memory;\n", []string{"CREATE TABLE a (x UInt8) ENGINE = Memory"}},
		{
			"two, multi-line, with comments",
			"-- first\nCREATE TABLE a (\n    x UInt8 -- a column\n) ENGINE = Memory;\n\n-- second\nCREATE VIEW v AS SELECT 1;\n",
			[]string{"CREATE TABLE a (\n    x UInt8 -- a column\n) ENGINE = Memory", "CREATE VIEW v AS SELECT 1"},
		},
		{"no final semicolon", "SELECT 1", []string{"SELECT 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, clickhouse.SplitStatements(tt.sql)); diff != "" {
				t.Errorf("SplitStatements (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMigrationsAreIdempotent checks what concurrent starts rely on: every statement of every
// migration can run twice.
func TestMigrationsAreIdempotent(t *testing.T) {
	stmts, err := clickhouse.MigrationStatements()
	if err != nil {
		t.Fatalf("MigrationStatements: %v", err)
	}
	if len(stmts) == 0 {
		t.Fatal("no migration statements embedded")
	}
	for _, stmt := range stmts {
		if !strings.Contains(stmt, "IF NOT EXISTS") && !strings.Contains(stmt, "IF EXISTS") {
			t.Errorf("statement without IF [NOT] EXISTS:\n%s", stmt)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     clickhouse.Config
		wantErr bool
	}{
		{"zero takes defaults", clickhouse.Config{}, false},
		{"full", clickhouse.Config{Addr: []string{"ch-0:9000", "[::1]:9000"}, Database: "aspm_prod", Username: "u", Password: "p", DialTimeout: time.Second}, false},
		{"no port", clickhouse.Config{Addr: []string{"localhost"}}, true},
		{"port not a number", clickhouse.Config{Addr: []string{"localhost:native"}}, true},
		{"no host", clickhouse.Config{Addr: []string{":9000"}}, true},
		{"database with a dash", clickhouse.Config{Database: "aspm-prod"}, true},
		{"database with a backquote", clickhouse.Config{Database: "a`b"}, true},
		{"database starting with a digit", clickhouse.Config{Database: "1aspm"}, true},
		{"negative dial timeout", clickhouse.Config{DialTimeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error: %v", err, tt.wantErr)
			}
			if err == nil {
				if err := tt.cfg.WithDefaults().Validate(); err != nil {
					t.Errorf("WithDefaults().Validate() = %v", err)
				}
			}
		})
	}
}

func TestConfigWithDefaults(t *testing.T) {
	want := clickhouse.Config{
		Addr:        []string{clickhouse.DefaultAddr},
		Database:    clickhouse.DefaultDatabase,
		Username:    clickhouse.DefaultUsername,
		DialTimeout: clickhouse.DefaultDialTimeout,
	}
	if diff := cmp.Diff(want, clickhouse.Config{}.WithDefaults()); diff != "" {
		t.Errorf("Config{}.WithDefaults() (-want +got):\n%s", diff)
	}
	set := clickhouse.Config{Addr: []string{"ch:9440"}, Database: "x", Username: "u", Password: "p", DialTimeout: time.Second}
	if diff := cmp.Diff(set, set.WithDefaults()); diff != "" {
		t.Errorf("WithDefaults changed set fields (-want +got):\n%s", diff)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	if _, err := clickhouse.Open(t.Context(), clickhouse.Config{Database: "no-dashes"}); err == nil {
		t.Error("Open with an invalid database name succeeded")
	}
}

// TestDeploymentSeenRange proves a deployment keeps the earliest and the latest observation,
// whatever order observations arrive in.
func TestDeploymentSeenRange(t *testing.T) {
	s := clickhousetest.Open(t)
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
		first, last, err := clickhouse.SeenRange(t.Context(), s, dep.Image.Digest, dep.Key())
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
