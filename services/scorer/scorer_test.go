package scorer_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

var img = evidence.ImageRef{Repository: "registry.example/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}

func sbomEvidence() evidence.Evidence {
	return evidence.Evidence{
		ID: "sha256:cd00000000000000000000000000000000000000000000000000000000000000", Kind: evidence.KindSBOM,
		Source: "oci-referrers", SubjectMatch: true, SBOM: &evidence.SBOM{Format: "cyclonedx", Components: 3},
	}
}

// gapEvents drains the gap events published so far.
func gapEvents(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string][]string {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{event.SubjectGapOpened, event.SubjectGapClosed},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for {
		msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range msgs.Messages() {
			n++
			var g event.GapChanged
			schema := event.SchemaGapOpened
			if msg.Subject() == event.SubjectGapClosed {
				schema = event.SchemaGapClosed
			}
			if err := event.Decode(msg.Data(), schema, &g); err != nil {
				t.Fatal(err)
			}
			out[msg.Subject()] = append(out[msg.Subject()], g.Gap.Code)
			if want := event.GapFingerprint(g.Image.Digest, g.Environment, g.Gap.Code); g.Fingerprint != want {
				t.Errorf("%s %s: fingerprint %q, want %q (digest, environment, code)", msg.Subject(), g.Gap.Code, g.Fingerprint, want)
			}
		}
		if n == 0 {
			break
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func TestScorer(t *testing.T) {
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
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}}, scorer.Deps{Store: st, Policy: pol})
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

	t0 := time.Unix(1700000000, 0).UTC()
	if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: "prod", Org: "acme", Team: "pay", Workload: "app", ObservedAt: t0}); err != nil {
		t.Fatal(err)
	}
	first := event.NewEvidenceCollected("deploy-1", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(time.Minute), Evidence: []evidence.Evidence{}})
	if err := b.Publish(ctx, event.SubjectEvidenceCollected, first); err != nil {
		t.Fatal(err)
	}
	waitHistory := func(n int) []evidence.Score {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			h, err := st.ScoreHistory(ctx, img.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) >= n || time.Now().After(deadline) {
				return h
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	h := waitHistory(1)
	if len(h) != 1 {
		t.Fatalf("history has %d scores, want 1", len(h))
	}
	s := h[0]
	if s.Level != 0 || s.Org != "acme" || s.Team != "pay" || s.Environment != "prod" || s.PolicyVersion != pol.Version() {
		t.Errorf("score = %+v", s)
	}
	if want := []string{"level.below_required", "provenance.missing", "sbom.missing"}; !slices.Equal(s.GapCodes(), want) {
		t.Errorf("gaps = %v, want %v", s.GapCodes(), want)
	}

	// A redelivered copy (same content, published without the de-duplication ID) changes nothing.
	data, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().Publish(ctx, event.SubjectEvidenceCollected, data); err != nil {
		t.Fatal(err)
	}
	// A later collection finds an unsigned SBOM: sbom.missing closes, sbom.unsigned opens.
	second := event.NewEvidenceCollected("deploy-2", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(2 * time.Minute), Evidence: []evidence.Evidence{sbomEvidence()}})
	if err := b.Publish(ctx, event.SubjectEvidenceCollected, second); err != nil {
		t.Fatal(err)
	}
	waitHistory(2)
	time.Sleep(300 * time.Millisecond) // let the redelivered copy be handled too
	h, err = st.ScoreHistory(ctx, img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Fatalf("history has %d scores after a redelivery and a new collection, want 2", len(h))
	}
	cur, err := st.CurrentScores(ctx, img.Digest)
	if err != nil || len(cur) != 1 || slices.Contains(cur[0].GapCodes(), "sbom.missing") {
		t.Errorf("current scores = %+v, %v", cur, err)
	}
	// A rescan that finds the same evidence, and an older collection arriving late, announce
	// no gap transitions.
	third := event.NewEvidenceCollected("rescan-1", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(3 * time.Minute), Evidence: []evidence.Evidence{sbomEvidence()}})
	late := event.NewEvidenceCollected("deploy-0", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(30 * time.Second), Evidence: []evidence.Evidence{}})
	for _, m := range []event.EvidenceCollected{third, late} {
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
			t.Fatal(err)
		}
	}
	waitHistory(4)
	time.Sleep(300 * time.Millisecond)
	got := gapEvents(t, ctx, b.JetStream())
	want := map[string][]string{
		event.SubjectGapOpened: {"level.below_required", "provenance.missing", "sbom.missing", "sbom.unsigned"},
		event.SubjectGapClosed: {"sbom.missing"},
	}
	if !slices.Equal(got[event.SubjectGapOpened], want[event.SubjectGapOpened]) || !slices.Equal(got[event.SubjectGapClosed], want[event.SubjectGapClosed]) {
		t.Errorf("gap events = %v, want %v", got, want)
	}
}

func TestScoreIsDeterministic(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: "nats://127.0.0.1:1"}}, scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0).UTC()
	m := event.NewEvidenceCollected("x", evidence.ArtifactEvidence{Image: img, CollectedAt: t0, Evidence: []evidence.Evidence{}})
	deps := []evidence.Deployment{
		{Image: img, Environment: "dev", Org: "acme", Team: "old", ObservedAt: t0},
		{Image: img, Environment: "dev", Org: "acme", Team: "new", ObservedAt: t0.Add(time.Hour)},
		{Image: img, Environment: "prod", Org: "acme", Team: "new", ObservedAt: t0},
	}
	a, err := svc.Score(ctx, m, deps)
	if err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(deps)
	slices.Reverse(reversed)
	b, err := svc.Score(ctx, m, reversed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("scores depend on the order of deployments (-first +reversed):\n%s", diff)
	}
	if len(a) != 2 || a[0].Environment != "dev" || a[1].Environment != "prod" || a[0].Team != "new" {
		t.Fatalf("scores = %+v; want dev (team of the latest observation) then prod", a)
	}
}
