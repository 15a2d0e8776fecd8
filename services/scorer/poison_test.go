package scorer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// TestPoisonMessages publishes on the scorer's subject a valid evidence event, four poison
// messages (invalid JSON, an unknown schema version, a payload over the size limit, a
// claim-check reference to a document that does not exist) and another valid event: the four
// land on the scorer's dead-letter subject with their reasons, both valid events are scored
// exactly once, and the consumer ends with nothing pending.
func TestPoisonMessages(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, b := bustest.Connect(t)
	js := b.JetStream()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
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

	t0 := time.Unix(1700000000, 0).UTC()
	imgs := []evidence.ImageRef{
		{Repository: "registry.example/acme/a", Digest: evidence.Digest(fmt.Sprintf("sha256:%064x", 0xa))},
		{Repository: "registry.example/acme/b", Digest: evidence.Digest(fmt.Sprintf("sha256:%064x", 0xb))},
	}
	for _, img := range imgs {
		if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: "prod", Org: "acme", Team: "pay", Workload: "app", ObservedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	valid := func(i int) {
		t.Helper()
		m := event.NewEvidenceCollected(fmt.Sprintf("deploy-%d", i), evidence.ArtifactEvidence{Image: imgs[i], CollectedAt: t0.Add(time.Minute), Evidence: []evidence.Evidence{}})
		if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
			t.Fatal(err)
		}
	}
	gone := event.NewEvidenceCollected("deploy-gone", evidence.ArtifactEvidence{Image: imgs[0], CollectedAt: t0, Evidence: []evidence.Evidence{}})
	gone.ArtifactRef = "evidence/never-stored"
	goneJSON, _ := json.Marshal(gone)
	poisons := []struct {
		data   []byte
		reason string
	}{
		{[]byte("\x00\xffnot json"), "malformed message"},
		{[]byte(`{"schema":"aspm.evidence.collected/v2","id":"x"}`), `unknown schema: "aspm.evidence.collected/v2"`},
		{[]byte(`{"schema":"aspm.evidence.collected/v1","id":"` + strings.Repeat("z", bus.MaxConsumeSize) + `"}`), "exceeds the"},
		{goneJSON, "evidence/never-stored is gone"},
	}

	valid(0)
	for _, p := range poisons {
		if _, err := js.Publish(ctx, event.SubjectEvidenceCollected, p.data); err != nil {
			t.Fatal(err)
		}
	}
	valid(1)

	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := js.Consumer(ctx, bus.StreamEvents, bus.ConsumerScorer)
		if err != nil {
			t.Fatal(err)
		}
		ci := c.CachedInfo()
		h, err := st.ScoreHistory(ctx, imgs[1].Digest)
		if err != nil {
			t.Fatal(err)
		}
		// The second valid message is the last one published: once it is scored and nothing
		// is pending or unacked, everything before it was handled.
		if ci.NumPending == 0 && ci.NumAckPending == 0 && len(h) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scorer did not get through the poison messages: %+v", c.CachedInfo())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for i, img := range imgs {
		h, err := st.ScoreHistory(ctx, img.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Image != img || h[0].Environment != "prod" || h[0].Team != "pay" {
			t.Errorf("valid message %d: scores %+v; want one for %s in prod", i, h, img)
		}
	}
	dead, err := js.Stream(ctx, bus.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dead.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(poisons)) {
		t.Errorf("%d dead letters, want %d", info.State.Msgs, len(poisons))
	}
	for i, p := range poisons {
		raw, err := dead.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		var dl event.DeadLetter
		if err := json.Unmarshal(raw.Data, &dl); err != nil {
			t.Fatal(err)
		}
		if raw.Subject != event.SubjectDeadPrefix+bus.ConsumerScorer || dl.Consumer != bus.ConsumerScorer ||
			dl.Subject != event.SubjectEvidenceCollected || !strings.Contains(dl.Reason, p.reason) {
			t.Errorf("dead letter %d on %s: %s/%s reason %q; want a reason containing %q", i+1, raw.Subject, dl.Consumer, dl.Subject, dl.Reason, p.reason)
		}
	}
	if ok, dl := metricValue(t, svc.Gatherer(), "aspm_scorer_messages_total", "ok"), metricValue(t, svc.Gatherer(), "aspm_scorer_messages_total", "dead"); ok != 2 || dl != float64(len(poisons)) {
		t.Errorf("messages: %v ok, %v dead; want 2 and %d", ok, dl, len(poisons))
	}
}
