package clickhouse_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/event"
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
// migration can run twice, because it says IF [NOT] EXISTS, adds one column (ClickHouse 18.16
// has no ADD COLUMN IF NOT EXISTS: the runner skips a column that exists) or backfills a
// ReplacingMergeTree table with INSERT ... SELECT (rows inserted twice collapse).
func TestMigrationsAreIdempotent(t *testing.T) {
	stmts, err := clickhouse.MigrationStatements()
	if err != nil {
		t.Fatalf("MigrationStatements: %v", err)
	}
	if len(stmts) == 0 {
		t.Fatal("no migration statements embedded")
	}
	for _, stmt := range stmts {
		_, _, addsColumn := clickhouse.AddsColumn(stmt)
		backfills := strings.HasPrefix(stmt, "INSERT INTO ") && strings.Contains(stmt, "\nSELECT ")
		if !addsColumn && !backfills && !strings.Contains(stmt, "IF NOT EXISTS") && !strings.Contains(stmt, "IF EXISTS") {
			t.Errorf("statement without IF [NOT] EXISTS that does not add one column:\n%s", stmt)
		}
	}
	// On the real server: every statement, run again on a migrated database, succeeds.
	s := clickhousetest.Open(t)
	for _, stmt := range stmts {
		if err := clickhouse.ExecMigration(t.Context(), s, stmt); err != nil {
			t.Errorf("running again:\n%s\n: %v", stmt, err)
		}
	}
}

// TestConcurrentAddColumn adds one column from several stores at once, as replicas starting
// together would: ClickHouse runs one ALTER and fails the others, which the runner accepts.
func TestConcurrentAddColumn(t *testing.T) {
	s := clickhousetest.Open(t)
	if err := clickhouse.ExecMigration(t.Context(), s, "CREATE TABLE IF NOT EXISTS grows (k String) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatalf("creating table: %v", err)
	}
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = clickhouse.ExecMigration(t.Context(), s, "ALTER TABLE grows ADD COLUMN v UInt64 DEFAULT 0")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ALTER %d: %v", i+1, err)
		}
	}
}

func TestAddsColumn(t *testing.T) {
	tests := []struct {
		stmt          string
		table, column string
		ok            bool
	}{
		{"ALTER TABLE deployments ADD COLUMN ended_ns UInt64 DEFAULT 0", "deployments", "ended_ns", true},
		{"alter table d\n    add column\tx DateTime", "d", "x", true},
		{"ALTER TABLE d ADD COLUMN IF NOT EXISTS x UInt8", "d", "x", true},
		{"ALTER TABLE d ADD COLUMN x UInt8, ADD COLUMN y UInt8", "", "", false},
		{"ALTER TABLE db.d ADD COLUMN x UInt8", "", "", false},
		{"ALTER TABLE d DROP COLUMN IF EXISTS x", "", "", false},
		{"CREATE TABLE IF NOT EXISTS d (x UInt8) ENGINE = Memory", "", "", false},
	}
	for _, tt := range tests {
		table, column, ok := clickhouse.AddsColumn(tt.stmt)
		if table != tt.table || column != tt.column || ok != tt.ok {
			t.Errorf("AddsColumn(%q) = %q, %q, %v; want %q, %q, %v", tt.stmt, table, column, ok, tt.table, tt.column, tt.ok)
		}
	}
}

// TestUpgradeKeepsDeploymentsRunning opens a database that has the first migration only, with
// a deployment written then: after the upgrade it reads as running and counts in coverage.
func TestUpgradeKeepsDeploymentsRunning(t *testing.T) {
	cfg := clickhousetest.Config(t)
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close()
	if err := conn.Exec(t.Context(), "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	stmts, err := clickhouse.MigrationStatementsUpTo(1)
	if err != nil {
		t.Fatalf("MigrationStatementsUpTo(1): %v", err)
	}
	ctx := t.Context()
	old, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatalf("connecting to %s: %v", cfg.Database, err)
	}
	defer old.Close()
	for _, stmt := range stmts {
		if err := old.Exec(ctx, stmt); err != nil {
			t.Fatalf("applying migration 1:\n%s\n: %v", stmt, err)
		}
	}
	ev := testEvaluation(time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC))
	dep := ev.Deployments[0]
	at := dep.ObservedAt
	version := uint64(at.UnixNano())
	for _, q := range []struct {
		query string
		row   []any
	}{
		{"INSERT INTO artifacts (digest, repository, collected_at, errors, evidence_count, verified_provenance, version)",
			[]any{string(dep.Image.Digest), dep.Image.Repository, at.Truncate(time.Second), []string{}, uint32(0), uint8(0), version}},
		{"INSERT INTO deployments (digest, deployment_key, repository, org, team, environment, cluster, namespace, workload, first_seen, last_seen, version)",
			[]any{string(dep.Image.Digest), dep.Key(), dep.Image.Repository, dep.Org, dep.Team, dep.Environment, dep.Cluster,
				dep.Namespace, dep.Workload, at.Truncate(time.Second), at.Truncate(time.Second), version}},
	} {
		batch, err := old.PrepareBatch(ctx, q.query)
		if err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		if err := batch.Append(q.row...); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}

	s := mustOpen(t, cfg)
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

// TestUpgradeFillsCurrentState opens a database that has the first two migrations only, with an
// artifact written then (its collection holding an SBOM document, a deployment, a score with a
// gap): after the upgrade, its gap is in the feed with the details the score's JSON holds, it
// counts in coverage and roll-ups, and components of its document, written later for another
// artifact, are found where it runs.
func TestUpgradeFillsCurrentState(t *testing.T) {
	cfg := clickhousetest.Config(t)
	ctx := t.Context()
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	old, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatalf("connecting to %s: %v", cfg.Database, err)
	}
	defer old.Close()
	stmts, err := clickhouse.MigrationStatementsUpTo(2)
	if err != nil {
		t.Fatalf("MigrationStatementsUpTo(2): %v", err)
	}
	for _, stmt := range stmts {
		if err := old.Exec(ctx, stmt); err != nil {
			t.Fatalf("applying migrations 1 and 2:\n%s\n: %v", stmt, err)
		}
	}

	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ev := testEvaluation(at)
	img, dep := ev.Evidence.Image, ev.Deployments[0]
	sbomID := evidence.Digest("sha256:" + strings.Repeat("5b", 32))
	sc := ev.Scores[0]
	sc.Gaps = []evidence.Gap{{Code: "sbom.unsigned", Severity: "medium", Message: `the "SBOM" is {unsigned}`, Rule: "data.aspm.gaps.sbom"}}
	doc, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	version := uint64(at.UnixNano())
	sec := at.Truncate(time.Second)
	for _, q := range []struct {
		query string
		row   []any
	}{
		{"INSERT INTO artifacts (digest, repository, collected_at, errors, evidence_count, verified_provenance, version)",
			[]any{string(img.Digest), img.Repository, sec, []string{}, uint32(1), uint8(0), version}},
		{"INSERT INTO evidence (digest, version, position, collected_at, evidence_id, kind, source, media_type, predicate_type, subject_match, signed, verified, signer_issuer, signer_identity, builder_id, source_repository, malformed, document)",
			[]any{string(img.Digest), version, uint32(0), sec, string(sbomID), "sbom", "oci-referrers", "", "", uint8(0), uint8(0), uint8(0), "", "", "", "", "", "{}"}},
		{"INSERT INTO deployments (digest, deployment_key, repository, org, team, environment, cluster, namespace, workload, first_seen, last_seen, version, ended_at, ended_ns)",
			[]any{string(img.Digest), dep.Key(), img.Repository, dep.Org, dep.Team, dep.Environment, dep.Cluster,
				dep.Namespace, dep.Workload, sec, sec, version, time.Unix(0, 0), uint64(0)}},
		{"INSERT INTO scores (digest, environment, evaluation_id, evaluated_at, repository, org, team, level, risk, verified_provenance, gap_codes, policy_version, score, version)",
			[]any{string(img.Digest), sc.Environment, sc.EvaluationID, sec, img.Repository, sc.Org, sc.Team, uint8(sc.Level),
				uint8(0), uint8(1), sc.GapCodes(), "", string(doc), version}},
	} {
		batch, err := old.PrepareBatch(ctx, q.query)
		if err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		if err := batch.Append(q.row...); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}

	s := mustOpen(t, cfg)
	checkMigrations(t, s)
	items, _, err := s.Gaps(ctx, store.GapQuery{})
	if err != nil {
		t.Fatalf("Gaps: %v", err)
	}
	want := []store.GapItem{{
		Fingerprint: event.GapFingerprint(img.Digest, sc.Environment, "sbom.unsigned"),
		Image:       img, Environment: sc.Environment, Org: sc.Org, Team: sc.Team, Gap: sc.Gaps[0],
		State: store.GapStateOpen, OpenedAt: at, SLSALevel: sc.Level,
	}}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("Gaps after the upgrade (-want +got):\n%s", diff)
	}
	cov, err := s.Coverage(ctx, store.CoverageQuery{})
	if err != nil {
		t.Fatalf("Coverage: %v", err)
	}
	if cov.Total != 1 || cov.ByLevel["L2"] != 1 || cov.WithGaps != 1 {
		t.Errorf("Coverage after the upgrade = %+v, want one artifact at L2 with gaps", cov)
	}
	if err := s.RollupCoverage(ctx, at); err != nil {
		t.Fatalf("RollupCoverage: %v", err)
	}
	points, err := s.Trend(ctx, store.TrendQuery{From: at, To: at, By: store.TrendByTeam})
	if err != nil {
		t.Fatalf("Trend: %v", err)
	}
	if len(points) != 1 || points[0].Group != dep.Team || points[0].Total != 1 {
		t.Errorf("Trend after the upgrade = %+v, want one point of team %s", points, dep.Team)
	}

	// Another artifact's evaluation lists the document's components.
	other := evidence.ImageRef{Repository: "registry.example.com/apps/other", Digest: evidence.Digest("sha256:" + strings.Repeat("7e", 32))}
	if err := s.WriteEvaluation(ctx, store.Evaluation{
		Evidence:   evidence.ArtifactEvidence{Image: other, CollectedAt: at, Evidence: []evidence.Evidence{{ID: sbomID, Kind: evidence.KindSBOM, Source: "oci-referrers"}}},
		Components: []store.Component{{SBOM: sbomID, Name: "zlib", Version: "1.3", PURL: "pkg:deb/debian/zlib@1.3"}},
	}); err != nil {
		t.Fatalf("WriteEvaluation: %v", err)
	}
	hits, _, err := s.Components(ctx, store.ComponentQuery{Name: "zlib"})
	if err != nil {
		t.Fatalf("Components: %v", err)
	}
	if len(hits) != 1 || hits[0].Image != img || hits[0].Environment != dep.Environment || hits[0].SLSALevel != sc.Level {
		t.Errorf("Components(zlib) after the upgrade = %+v, want one hit of %s in %s", hits, img, dep.Environment)
	}
}

// TestUpgradeKeepsGroupRollups opens a database that has the first six migrations only, with a
// day rolled up per (org, team, environment) group twice, the second run dropping a group:
// after the upgrade, the groups of the day's newest run are the cells of their three labels,
// which a trend filtered by the two other dimensions reads, and the day has no other cells.
func TestUpgradeKeepsGroupRollups(t *testing.T) {
	cfg := clickhousetest.Config(t)
	ctx := t.Context()
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	old, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatalf("connecting to %s: %v", cfg.Database, err)
	}
	defer old.Close()
	stmts, err := clickhouse.MigrationStatementsUpTo(6)
	if err != nil {
		t.Fatalf("MigrationStatementsUpTo(6): %v", err)
	}
	for _, stmt := range stmts {
		if err := old.Exec(ctx, stmt); err != nil {
			t.Fatalf("applying migrations 1 to 6:\n%s\n: %v", stmt, err)
		}
	}
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	const run1, run2 = uint64(1e18), uint64(1e18 + 1)
	for _, q := range []struct {
		query string
		rows  [][]any
	}{
		{"INSERT INTO coverage_rollups (day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps, run)", [][]any{
			{day, "acme", "gone", "prod", uint32(1), uint32(1), uint32(0), uint32(0), uint32(0), uint32(0), uint32(0), run1},
			{day, "acme", "pay", "prod", uint32(2), uint32(0), uint32(1), uint32(0), uint32(1), uint32(1), uint32(1), run2},
			{day, "acme", "web", "prod", uint32(1), uint32(0), uint32(0), uint32(1), uint32(0), uint32(1), uint32(0), run2},
		}},
		{"INSERT INTO coverage_rollup_runs (day, run)", [][]any{{day, run1}, {day, run2}}},
	} {
		batch, err := old.PrepareBatch(ctx, q.query)
		if err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		for _, row := range q.rows {
			if err := batch.Append(row...); err != nil {
				t.Fatalf("%s: %v", q.query, err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}

	s := mustOpen(t, cfg)
	checkMigrations(t, s)
	trend := func(q store.TrendQuery) []store.TrendPoint {
		t.Helper()
		q.From, q.To = day, day
		points, err := s.Trend(ctx, q)
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
