package clickhousetest_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
)

// small is the benchmark's data set at a scale the write path stores in seconds; 120 artifacts
// cover every combination of its org, team, environment, level and ended-deployment cycles.
var small = clickhousetest.Synth{
	Artifacts: 120, Components: 20, Days: 3,
	Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: 15 * time.Minute,
	Batch: 50, // several inserts, merged into one part as at full scale
}

// synthTables are the tables both stores fill, with the columns compared: all but those holding
// the time of the write (versions of derived rows, roll-up runs, written_at). Rows are compared
// reduced with FINAL.
var synthTables = map[string]string{
	"artifacts": "digest, repository, collected_at, errors, evidence_count, verified_provenance, version",
	"evidence": "digest, version, position, collected_at, evidence_id, kind, source, media_type, predicate_type, " +
		"subject_match, signed, verified, signer_issuer, signer_identity, builder_id, source_repository, malformed, document",
	"artifact_documents": "document, digest, version",
	"deployments": "digest, deployment_key, repository, org, team, environment, cluster, namespace, workload, " +
		"first_seen, last_seen, version, ended_at, ended_ns",
	"scores": "digest, environment, evaluation_id, evaluated_at, repository, org, team, level, risk, " +
		"verified_provenance, gap_codes, policy_version, score, version",
	"scores_latest": "digest, environment, evaluation_id, evaluated_ns, repository, org, team, level, risk, " +
		"verified_provenance, gap_codes, gap_severities, gap_messages, gap_rules, version",
	"placements": "digest, org, team, environment, running, repository, cluster, namespace, workload, level, " +
		"verified, with_gaps, gap_codes",
	"current_gaps": "digest, environment, code, state, repository, org, team, severity, message, rule, level, " +
		"opened_ns, closed_ns, item_hash",
	"gap_events": "digest, environment, code, evaluation_id, state, fingerprint, at, at_ns, repository, org, team, " +
		"severity, message, rule",
	"sbom_components":         "name, version, purl, sbom, position, type, licenses",
	"sbom_components_by_purl": "purl, name, version, sbom, position, type, licenses",
	"sbom_documents":          "sbom, components",
	"coverage_cells":          "day, dims, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps",
	"coverage_rollups":        "day, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps",
	"coverage_rollup_runs":    "day",
	"coverage_live":           "digest, dims, org, team, environment, total, l0, l1, l2, l3, verified, with_gaps",
	"gap_feed":                "opened_ns, digest, environment, code, state, org, team, severity",
}

// TestSynthMatchesWritePath loads the small data set in bulk (Load) and through the store's
// write path (WriteThrough), and checks that both hold the same rows and give the same answers
// to every read the benchmark measures, and more: the benchmark measures what the store would
// hold.
func TestSynthMatchesWritePath(t *testing.T) {
	ctx := t.Context()
	realCfg := clickhousetest.Config(t)
	real, err := clickhouse.Open(ctx, realCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { real.Close() })
	if err := small.WriteThrough(ctx, real); err != nil {
		t.Fatalf("writing through the store: %v", err)
	}
	cfg := clickhousetest.Config(t)
	synth, stats, err := clickhousetest.Load(ctx, cfg, small)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { synth.Close() })
	if stats.Reused {
		t.Fatal("a fresh database was reused")
	}
	if got, want := stats.Rows["scores"], uint64(2*small.Artifacts); got != want {
		t.Errorf("scores: %d rows, want %d", got, want)
	}
	if got, want := stats.Rows["sbom_components"], uint64(small.Artifacts*small.Components); got != want {
		t.Errorf("sbom_components: %d rows, want %d", got, want)
	}

	t.Run("tables", func(t *testing.T) {
		for table, cols := range synthTables {
			want := tableRows(t, realCfg, table, cols)
			got := tableRows(t, cfg, table, cols)
			if len(want) == 0 {
				t.Errorf("%s: the write path wrote nothing", table)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: bulk-loaded rows differ from the write path's (-want +got):\n%s", table, diff)
			}
		}
	})

	t.Run("reads", func(t *testing.T) {
		compareReads(t, ctx, real, synth)
	})

	// Later writes to both: the bulk-loaded tables are merged, so these leave stale rows beside
	// merged parts, which the readers must see through. Merges of the gap feed are stopped so
	// that they stay.
	if err := connect(t, cfg).Exec(ctx, "SYSTEM STOP MERGES `"+cfg.Database+"`.current_gaps"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 4, 9, 13} {
		ev := small.Evaluation(i)
		var events []store.GapEvent
		for k := range ev.Scores {
			sc := &ev.Scores[k]
			for _, g := range sc.Gaps {
				events = append(events, store.GapEvent{
					Fingerprint: event.GapFingerprint(sc.Image.Digest, sc.Environment, g.Code), Image: sc.Image,
					Environment: sc.Environment, Org: sc.Org, Team: sc.Team, Gap: g, State: store.GapClosed,
					At: sc.EvaluatedAt.Add(48 * time.Hour), EvaluationID: sc.EvaluationID + "-fixed"})
			}
			sc.Level, sc.Gaps, sc.VerifiedProvenance = 3, []evidence.Gap{}, true
			sc.EvaluationID += "-fixed"
			sc.EvaluatedAt = sc.EvaluatedAt.Add(48 * time.Hour)
		}
		ev.Components = nil
		for _, st := range []*clickhouse.Store{real, synth} {
			if err := st.WriteEvaluation(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if err := st.WriteGapEvents(ctx, events); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("reads after writes", func(t *testing.T) {
		// The readers see through stale rows beside a merged part (GapsVersion reads them apart).
		var parts, merged uint64
		if err := connect(t, cfg).QueryRow(ctx, `SELECT count(), toUInt64(argMax(level, rows) > 0) FROM system.parts
			WHERE database = currentDatabase() AND table = 'current_gaps' AND active`).Scan(&parts, &merged); err != nil {
			t.Fatal(err)
		}
		if parts < 2 || merged != 1 {
			t.Errorf("current_gaps has %d parts, the biggest merged: %v; want a merged part and newer ones", parts, merged == 1)
		}
		compareReads(t, ctx, real, synth)
	})

	// Loading again reuses the database.
	again, stats2, err := clickhousetest.Load(ctx, cfg, small)
	if err != nil {
		t.Fatalf("loading again: %v", err)
	}
	again.Close()
	if !stats2.Reused || stats2.Rows["sbom_components"] != stats.Rows["sbom_components"] {
		t.Errorf("loading again: reused %v, rows %v; want reused with rows %v", stats2.Reused, stats2.Rows, stats.Rows)
	}
	// A different data set reloads it.
	other := small
	other.Artifacts = 30
	st3, stats3, err := clickhousetest.Load(ctx, cfg, other)
	if err != nil {
		t.Fatalf("loading another data set: %v", err)
	}
	st3.Close()
	if stats3.Reused || stats3.Rows["scores"] != 60 {
		t.Errorf("loading another data set: reused %v, %d scores; want a reload with 60", stats3.Reused, stats3.Rows["scores"])
	}
}

func connect(t *testing.T, cfg clickhouse.Config) chgo.Conn {
	t.Helper()
	conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, Auth: chgo.Auth{Database: cfg.Database}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tableRows returns the rows of table in database cfg.Database, reduced with FINAL, as text,
// sorted.
func tableRows(t *testing.T, cfg clickhouse.Config, table, cols string) []string {
	t.Helper()
	conn := connect(t, cfg)
	rows, err := conn.Query(t.Context(), "SELECT "+cols+" FROM "+table+" FINAL ORDER BY "+cols)
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(reflect.ValueOf(v).Elem().Interface())
		}
		out = append(out, strings.Join(parts, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	return out
}

// compareReads checks that want and got answer every read alike.
func compareReads(t *testing.T, ctx context.Context, want, got *clickhouse.Store) {
	check := func(what string, w, g any, werr, gerr error) {
		t.Helper()
		if werr != nil || gerr != nil {
			t.Fatalf("%s: errors %v, %v", what, werr, gerr)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s differs (-write path +bulk):\n%s", what, diff)
		}
	}
	nonEmpty := func(what string, n int) {
		t.Helper()
		if n == 0 {
			t.Errorf("%s: nothing found; the comparison proves nothing", what)
		}
	}
	for _, q := range []store.CoverageQuery{{}, {Org: "org-1"}, {Team: "team-03"}, {Environment: "prod"},
		{Org: "org-2", Environment: "staging"}} {
		w, werr := want.Coverage(ctx, q)
		g, gerr := got.Coverage(ctx, q)
		check(fmt.Sprintf("coverage %+v", q), w, g, werr, gerr)
		nonEmpty(fmt.Sprintf("coverage %+v", q), w.Total)
	}
	end := small.End()
	for _, q := range []store.TrendQuery{
		{By: store.TrendByEnv}, {By: store.TrendByOrg}, {By: store.TrendByTeam, Environment: "prod"},
		{By: store.TrendByEnv, Org: "org-3"}, {By: store.TrendByEnv, Org: "org-3", Team: "team-08"},
	} {
		q.From, q.To = end.AddDate(0, 0, -364), end
		w, werr := want.Trend(ctx, q)
		g, gerr := got.Trend(ctx, q)
		check(fmt.Sprintf("trend %+v", q), w, g, werr, gerr)
		nonEmpty(fmt.Sprintf("trend %+v", q), len(w))
	}
	for _, q := range []store.GapQuery{{}, {State: store.GapStateClosed}, {State: store.GapStateAll, Limit: 7},
		{Environment: "prod"}, {Code: "signature.missing", Limit: 5}, {Org: "org-4", Severity: "high"}} {
		for page := 0; page < 100; page++ {
			w, wnext, werr := want.Gaps(ctx, q)
			g, gnext, gerr := got.Gaps(ctx, q)
			check(fmt.Sprintf("gaps %+v", q), []any{w, wnext}, []any{g, gnext}, werr, gerr)
			nonEmpty(fmt.Sprintf("gaps %+v", q), len(w))
			wv, werr := want.GapsVersion(ctx, q)
			gv, gerr := got.GapsVersion(ctx, q)
			check(fmt.Sprintf("gaps version %+v", q), wv, gv, werr, gerr)
			if wnext == "" {
				break
			}
			q.After = wnext
		}
	}
	for _, q := range []store.ComponentQuery{{Name: "openssl"}, {Name: "openssl", Version: "3.0.1"},
		{PURL: "pkg:deb/debian/openssl@3.0.0"}, {Name: "openssl", Environment: "prod", Limit: 3},
		{Name: small.Component(7, 3).Name}, {PURL: small.Component(42, 11).PURL, Org: "org-2"},
		{Name: "openssl", Org: "org-0", Team: "team-10"}} {
		for page := 0; page < 100; page++ {
			w, wnext, werr := want.Components(ctx, q)
			g, gnext, gerr := got.Components(ctx, q)
			check(fmt.Sprintf("components %+v", q), []any{w, wnext}, []any{g, gnext}, werr, gerr)
			nonEmpty(fmt.Sprintf("components %+v", q), len(w))
			if wnext == "" {
				break
			}
			q.After = wnext
		}
	}
	for _, q := range []store.ArtifactQuery{{}, {Environment: "dev", IncludeEnded: true}, {Gap: "builder.untrusted"}} {
		w, wnext, werr := want.ListArtifacts(ctx, q)
		g, gnext, gerr := got.ListArtifacts(ctx, q)
		check(fmt.Sprintf("artifacts %+v", q), []any{w, wnext}, []any{g, gnext}, werr, gerr)
		nonEmpty(fmt.Sprintf("artifacts %+v", q), len(w))
	}
	for _, i := range []int{0, 9, 59, 119} {
		d := small.Digest(i)
		w, werr := want.Artifact(ctx, d)
		g, gerr := got.Artifact(ctx, d)
		check("artifact "+string(d), w, g, werr, gerr)
		wh, werr := want.ScoreHistory(ctx, d)
		gh, gerr := got.ScoreHistory(ctx, d)
		check("score history "+string(d), wh, gh, werr, gerr)
	}
	if _, err := got.Artifact(ctx, evidence.Digest("sha256:"+strings.Repeat("0", 64))); err == nil {
		t.Error("an artifact never written was found")
	}
}
