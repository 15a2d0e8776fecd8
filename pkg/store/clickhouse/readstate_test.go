package clickhouse_test

import (
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
)

// TestReadStateRepairs writes what two refreshes racing, or one interrupted, can leave in the
// state readers read instead of the placements and the gap feed (migration 0009) — an
// artifact counted twice in coverage_live, a gap_feed row of a superseded version — and checks
// that Gaps skips the row, and that the artifact's next write (a re-delivery) counts it once
// again.
func TestReadStateRepairs(t *testing.T) {
	ctx := t.Context()
	cfg := clickhousetest.Config(t)
	s := mustOpen(t, cfg)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := testEvaluation(at)
	ev.Scores[0].Gaps = []evidence.Gap{{Code: "sbom.missing", Severity: "high", Message: "no SBOM", Rule: "r"}}
	if err := s.WriteEvaluation(ctx, ev); err != nil {
		t.Fatal(err)
	}
	want, err := s.Coverage(ctx, store.CoverageQuery{Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if want.Total != 1 || want.ByLevel["L2"] != 1 || want.VerifiedProvenance != 1 || want.WithGaps != 1 {
		t.Fatalf("Coverage = %+v, want one verified artifact at L2 with gaps", want)
	}
	items, _, err := s.Gaps(ctx, store.GapQuery{})
	if err != nil || len(items) != 1 {
		t.Fatalf("Gaps = %+v, %v; want one item", items, err)
	}

	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The artifact's rows and the cube's, written a second time; a row of the feed from an
	// older version of the gap, opened earlier.
	for _, q := range []string{
		`INSERT INTO coverage_live SELECT * FROM coverage_live WHERE digest IN ('', ?)`,
		`INSERT INTO gap_feed SELECT opened_ns - 1000, digest, environment, code, state, org, team, severity,
			version - 1 FROM gap_feed WHERE digest = ?`,
	} {
		if err := conn.Exec(ctx, q, string(ev.Evidence.Image.Digest)); err != nil {
			t.Fatal(err)
		}
	}
	doubled, err := s.Coverage(ctx, store.CoverageQuery{Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if doubled.Total != 2 {
		t.Fatalf("Coverage after counting the artifact twice = %+v, want a total of 2", doubled)
	}
	got, _, err := s.Gaps(ctx, store.GapQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(items, got); diff != "" {
		t.Errorf("Gaps with a superseded row in gap_feed (-want +got):\n%s", diff)
	}

	if err := s.WriteEvaluation(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.CoverageQuery{{Environment: "prod"}, {}, {Org: "acme", Team: "pay"}} {
		got, err := s.Coverage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Coverage(%+v) after the re-delivery (-want +got):\n%s", q, diff)
		}
	}
}
