package scorer_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

// fleet is a set of artifacts, each deployed once, and one evidence message for each.
type fleet struct {
	n    int
	t0   time.Time
	msgs []event.EvidenceCollected
	deps [][]evidence.Deployment
}

func newFleet(n int) *fleet {
	f := &fleet{n: n, t0: time.Unix(1700000000, 0).UTC()}
	for i := range n {
		img := evidence.ImageRef{Repository: fmt.Sprintf("registry.example/acme/app%d", i), Digest: evidence.Digest(fmt.Sprintf("sha256:%064x", 0xa000+i))}
		dep := evidence.Deployment{Image: img, Environment: []string{"prod", "staging"}[i%2], Org: "acme",
			Team: fmt.Sprintf("team%d", i%3), Workload: fmt.Sprintf("app%d", i), ObservedAt: f.t0}
		evs := []evidence.Evidence{}
		if i%3 != 0 { // two thirds have an unsigned SBOM, so gaps differ between artifacts
			evs = append(evs, sbomEvidence())
		}
		f.deps = append(f.deps, []evidence.Deployment{dep})
		f.msgs = append(f.msgs, event.NewEvidenceCollected(fmt.Sprintf("deploy-%d", i),
			evidence.ArtifactEvidence{Image: img, CollectedAt: f.t0.Add(time.Duration(i) * time.Second), Evidence: evs}))
	}
	return f
}

// putDeployments records every artifact's deployment.
func (f *fleet) putDeployments(t *testing.T, ctx context.Context, b *bus.Bus) {
	t.Helper()
	for _, d := range f.deps {
		if err := b.PutDeployment(ctx, d[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// publish publishes message i, retrying (under the same de-duplication ID) while the cluster
// fails over.
func (f *fleet) publish(ctx context.Context, b *bus.Bus, i int) error {
	for {
		// Each attempt is bounded: a publish whose node dies before it acks gets no answer.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := b.PublishEvidence(actx, f.msgs[i])
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publishing message %d: %w", i, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// check compares the store with what the policy gives for every artifact: exactly one current
// score per artifact, the expected one; one evaluation in its history; and the artifact
// listing holds every artifact once.
func (f *fleet) check(t *testing.T, ctx context.Context, st store.Store) {
	t.Helper()
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := scorer.New(scorer.Config{Bus: bus.Config{URL: "nats://127.0.0.1:1"}}, scorer.Deps{Store: st, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	wantGaps := map[string]bool{} // fingerprints of the open gaps the current scores have
	for i, m := range f.msgs {
		want, err := ref.Score(ctx, m, f.deps[i])
		if err != nil {
			t.Fatal(err)
		}
		cur, err := st.CurrentScores(ctx, m.Artifact.Image.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(cur) != 1 || len(want) != 1 {
			t.Errorf("artifact %d: %d current scores, want 1 (%d expected)", i, len(cur), len(want))
			continue
		}
		g, w := cur[0], want[0]
		for _, code := range w.GapCodes() {
			wantGaps[event.GapFingerprint(w.Image.Digest, w.Environment, code)] = true
		}
		if g.EvaluationID != w.EvaluationID || g.Level != w.Level || g.Environment != w.Environment ||
			g.Team != w.Team || !slices.Equal(g.GapCodes(), w.GapCodes()) {
			t.Errorf("artifact %d: current score %s/%s level %d gaps %v eval %s; want %s/%s level %d gaps %v eval %s", i,
				g.Environment, g.Team, g.Level, g.GapCodes(), g.EvaluationID, w.Environment, w.Team, w.Level, w.GapCodes(), w.EvaluationID)
		}
		h, err := st.ScoreHistory(ctx, m.Artifact.Image.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 {
			t.Errorf("artifact %d: %d evaluations in its history, want 1", i, len(h))
		}
	}
	// The gap feed lists each open gap once, and nothing else.
	gaps := map[string]int{}
	var cursor string
	for {
		page, next, err := st.Gaps(ctx, store.GapQuery{State: store.GapStateAll, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page {
			gaps[g.Fingerprint]++
			if g.State != store.GapStateOpen || !wantGaps[g.Fingerprint] {
				t.Errorf("gap feed: %s %s %s is %s; want only the open gaps of the current scores", g.Image.Digest, g.Environment, g.Code, g.State)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	t.Logf("the gap feed lists %d gaps (%d expected)", len(gaps), len(wantGaps))
	if len(gaps) != len(wantGaps) {
		t.Errorf("the gap feed lists %d gaps, want %d", len(gaps), len(wantGaps))
	}
	for fp, n := range gaps {
		if n != 1 {
			t.Errorf("the gap feed lists gap %s %d times", fp, n)
		}
	}
	seen := map[evidence.Digest]int{}
	var after string
	for {
		page, next, err := st.ListArtifacts(ctx, store.ArtifactQuery{Limit: 50, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			seen[a.Image.Digest]++
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != f.n {
		t.Errorf("the artifact listing holds %d artifacts, want %d", len(seen), f.n)
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("the artifact listing holds %s %d times", d, n)
		}
	}
}

// consumerInfo returns the scorer consumer's state.
func consumerInfo(t *testing.T, ctx context.Context, b *bus.Bus) *jetstream.ConsumerInfo {
	t.Helper()
	for {
		c, err := b.JetStream().Consumer(ctx, bus.StreamEvents, bus.ConsumerScorer)
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(ctx); err == nil {
				return info
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("scorer consumer info: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // a leader election
	}
}

// waitConsumer polls the scorer consumer until ok holds, failing t after timeout.
func waitConsumer(t *testing.T, ctx context.Context, b *bus.Bus, timeout time.Duration, what string, ok func(*jetstream.ConsumerInfo) bool) *jetstream.ConsumerInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info := consumerInfo(t, ctx, b)
		if ok(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %s for %s: consumer delivered %d, ack floor %d, %d pending, %d ack pending, %d redelivered, %d waiting",
				timeout, what, info.Delivered.Stream, info.AckFloor.Stream, info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drained reports whether every message was delivered and acked.
func drained(info *jetstream.ConsumerInfo) bool {
	return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == info.Delivered.Stream && info.Delivered.Stream > 0
}

// evidenceMsgs counts the evidence messages in the events stream.
func evidenceMsgs(t *testing.T, ctx context.Context, b *bus.Bus) uint64 {
	t.Helper()
	st, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(event.SubjectEvidenceCollected))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[event.SubjectEvidenceCollected]
}

// outcomes returns a scorer's aspm_scorer_messages_total by outcome.
func outcomes(t *testing.T, g prometheus.Gatherer) map[string]int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "aspm_scorer_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}

// replica is a scorer running in this process.
type replica struct {
	svc  *scorer.Service
	done chan error
}

// startReplicas runs n scorers on the cluster at url, each with its own connection to the
// SQLite database at path, until the test ends.
func startReplicas(t *testing.T, ctx context.Context, url, path string, n int) []*replica {
	t.Helper()
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	// The services run under a context without a deadline, as in production: JetStream calls
	// then take the client's default timeout rather than the test's whole budget.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var rs []*replica
	for i := range n {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := scorer.New(scorer.Config{Bus: bus.Config{URL: url, Replicas: 3, Name: fmt.Sprintf("scorer-%d", i)}},
			scorer.Deps{Store: st, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{svc: svc, done: make(chan error, 1)}
		go func() {
			r.done <- svc.Run(ctx)
			st.Close()
		}()
		rs = append(rs, r)
	}
	t.Cleanup(func() {
		cancel()
		for i, r := range rs {
			if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("scorer replica %d: %v", i, err)
			}
		}
	})
	return rs
}

// TestReplicasShareWork runs two scorers on a three-node cluster with every stream, bucket and
// the object store replicated three times: they share the durable consumer, each message is
// handled once, both do work, and every artifact ends scored once.
func TestReplicasShareWork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := bustest.StartCluster(t, 3)
	b := c.Connect(3)
	path := filepath.Join(t.TempDir(), "aspm.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 120
	f := newFleet(n)
	f.putDeployments(t, ctx, b)
	rs := startReplicas(t, ctx, c.URL(), path, 2)
	// Both replicas are pulling before the first message is published.
	waitConsumer(t, ctx, b, 30*time.Second, "two replicas pulling", func(i *jetstream.ConsumerInfo) bool { return i.NumWaiting >= 2 })
	for i := range n {
		if err := f.publish(ctx, b, i); err != nil {
			t.Fatal(err)
		}
	}
	info := waitConsumer(t, ctx, b, 60*time.Second, "every message acked", func(i *jetstream.ConsumerInfo) bool {
		return drained(i) && i.AckFloor.Consumer >= n
	})
	if info.Delivered.Consumer != n || info.NumRedelivered != 0 {
		t.Errorf("consumer made %d deliveries (%d redelivered) of %d messages; want each delivered once", info.Delivered.Consumer, info.NumRedelivered, n)
	}
	total := 0
	for i, r := range rs {
		o := outcomes(t, r.svc.Gatherer())
		t.Logf("replica %d handled %v", i, o)
		if o["ok"] == 0 {
			t.Errorf("replica %d handled no message: %v", i, o)
		}
		if o["retry"] != 0 || o["dead"] != 0 {
			t.Errorf("replica %d: %v; want no retries or dead letters", i, o)
		}
		total += o["ok"]
	}
	if total != n {
		t.Errorf("the replicas handled %d messages successfully, want %d (each once)", total, n)
	}
	if got := evidenceMsgs(t, ctx, b); got != n {
		t.Errorf("the stream holds %d evidence messages, want %d", got, n)
	}
	f.check(t, ctx, st)
}
