package scorer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
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

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestScorerObservability checks that the lines the scorer logs about a message carry its
// event ID and stream sequence, and that its /metrics has its consumer's queue state.
func TestScorerObservability(t *testing.T) {
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
	var logs logBuffer
	svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: ns.ClientURL()}},
		scorer.Deps{Store: st, Policy: pol, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
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
	for _, env := range []string{"prod", "staging"} {
		if err := b.PutDeployment(ctx, evidence.Deployment{Image: img, Environment: env, Org: "acme", Team: "pay", Workload: "app", ObservedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	m := event.NewEvidenceCollected("deploy-1", evidence.ArtifactEvidence{Image: img, CollectedAt: t0.Add(time.Minute), Evidence: []evidence.Evidence{}})
	if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err != nil {
		t.Fatal(err)
	}
	str, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seq := info.State.LastSeq

	type line struct {
		Msg       string `json:"msg"`
		Env       string `json:"env"`
		MsgID     string `json:"msg_id"`
		StreamSeq uint64 `json:"stream_seq"`
	}
	var scored []line
	deadline := time.Now().Add(15 * time.Second)
	for len(scored) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		scored = scored[:0]
		for l := range strings.Lines(logs.String()) {
			var rec line
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if rec.Msg == "scored" {
				scored = append(scored, rec)
			}
		}
	}
	if len(scored) != 2 {
		t.Fatalf("%d \"scored\" lines, want 2 (prod and staging):\n%s", len(scored), logs.String())
	}
	for _, rec := range scored {
		if rec.MsgID != m.ID || rec.StreamSeq != seq {
			t.Errorf("scored %s: msg_id %q, stream_seq %d; want %q, %d", rec.Env, rec.MsgID, rec.StreamSeq, m.ID, seq)
		}
	}

	mfs, err := svc.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "consumer" && l.GetValue() == bus.ConsumerScorer {
					found[mf.GetName()] = true
				}
			}
		}
	}
	for _, name := range []string{"aspm_bus_consumer_pending_messages", "aspm_bus_consumer_ack_pending_messages", "aspm_bus_redeliveries_total"} {
		if !found[name] {
			t.Errorf("the scorer's metrics have no %s{consumer=%q}", name, bus.ConsumerScorer)
		}
	}
}
