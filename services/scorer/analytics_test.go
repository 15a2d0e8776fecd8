package scorer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/sbom"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/pkg/testcorpus"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// TestAnalytics checks what the scorer keeps besides scores: the components of a real SBOM
// read back from the object store, the gap events of each transition, and today's coverage
// roll-up.
func TestAnalytics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}, RollupInterval: 50 * time.Millisecond},
		scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	raw := testcorpus.Read(t, "sbom/cyclonedx/bom-examples/laravel-7.12.0.cdx-1.4.json")
	doc, err := sbom.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	ref := evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
	if err := b.PutDocument(ctx, ref, raw); err != nil {
		t.Fatal(err)
	}
	sbomEv := evidence.Evidence{ID: ref, Kind: evidence.KindSBOM, Source: "oci-referrers", SubjectMatch: true,
		SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.4", Components: len(doc.Components), Ref: string(ref)}}
	// An SBOM whose raw document the object store does not have is skipped, not fatal.
	lost := evidence.Evidence{ID: digest("lost"), Kind: evidence.KindSBOM, Source: "cosign-tag", SubjectMatch: true,
		SBOM: &evidence.SBOM{Format: "spdx", Components: 9, Ref: string(digest("lost-raw"))}}

	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: "prod", Org: "acme", Team: "pay", Workload: "app", ObservedAt: t0}); err != nil {
		t.Fatal(err)
	}
	publish := func(id string, at time.Time, evs ...evidence.Evidence) {
		t.Helper()
		m := event.NewEvidenceCollected(id, evidence.ArtifactEvidence{Image: img, CollectedAt: at, Evidence: evs})
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
			t.Fatal(err)
		}
	}
	publish("c1", t0.Add(time.Minute))
	publish("c2", t0.Add(2*time.Minute), sbomEv, lost)

	want := doc.Components[0]
	var hits []store.ComponentHit
	eventually(t, "components indexed", func() bool {
		hits, _, err = st.Components(ctx, store.ComponentQuery{PURL: want.PURL})
		return err == nil && len(hits) == 1
	})
	if h := hits[0]; h.Image.Digest != img.Digest || h.Environment != "prod" || h.Name != want.Name || h.Version != want.Version {
		t.Errorf("hit %+v, want %s %s in prod of %s", h, want.Name, want.Version, img)
	}
	// Every named component of the document is searchable.
	for _, c := range doc.Components[1:5] {
		if c.PURL == "" {
			continue
		}
		if hits, _, err := st.Components(ctx, store.ComponentQuery{PURL: c.PURL}); err != nil || len(hits) != 1 {
			t.Errorf("component %s: %d hits, %v", c.PURL, len(hits), err)
		}
	}

	// The first evaluation opened sbom.missing; the second closed it.
	var closed []store.GapItem
	eventually(t, "sbom.missing closed", func() bool {
		closed, _, err = st.Gaps(ctx, store.GapQuery{State: store.GapStateClosed})
		return err == nil && len(closed) == 1
	})
	if g := closed[0]; g.Code != "sbom.missing" || g.ClosedAt == nil || !g.OpenedAt.Equal(t0.Add(time.Minute)) ||
		!g.ClosedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("closed gap %+v, want sbom.missing opened at %s, closed at %s", g, t0.Add(time.Minute), t0.Add(2*time.Minute))
	}
	open, _, err := st.Gaps(ctx, store.GapQuery{})
	if err != nil || len(open) == 0 {
		t.Fatalf("open gaps: %v, %v", open, err)
	}
	for _, g := range open {
		if g.Code == "sbom.missing" || g.Org != "acme" || g.Team != "pay" {
			t.Errorf("open gap %+v", g)
		}
	}

	// Today's roll-up follows the writes.
	var points []store.TrendPoint
	eventually(t, "coverage roll-up", func() bool {
		today := time.Now().UTC()
		points, err = st.Trend(ctx, store.TrendQuery{From: today, To: today, By: "env"})
		return err == nil && len(points) == 1 && points[0].Total == 1
	})
	if p := points[0]; p.Group != "prod" || p.WithGaps != 1 {
		t.Errorf("trend point %+v, want prod with 1 artifact with gaps", p)
	}
}

func digest(s string) evidence.Digest {
	sum := sha256.Sum256([]byte(s))
	return evidence.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
