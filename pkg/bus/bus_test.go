package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

var img = evidence.ImageRef{Repository: "registry.example/acme/app", Digest: "sha256:ab00000000000000000000000000000000000000000000000000000000000000"}

func deployment(env string, at time.Time) evidence.Deployment {
	return evidence.Deployment{Image: img, Environment: env, Org: "acme", Team: "t", Workload: "app", ObservedAt: at}
}

// consume runs Consume on consumer in the background until the test ends.
func consume(t *testing.T, b *bus.Bus, consumer string, h bus.Handler, opts bus.ConsumeOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, consumer, h, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	_, b := bustest.Connect(t)
	for range 3 {
		if err := b.EnsureStreams(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPublishDeduplicates(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	m := event.NewDeployObserved(deployment("prod", time.Unix(1700000000, 0)))
	for range 3 {
		if err := b.Publish(ctx, event.SubjectDeployObserved, m); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages after publishing one ID three times, want 1", info.State.Msgs)
	}
}

func TestConsumeAcksRetriesAndDeadLetters(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()

	var (
		mu       sync.Mutex
		attempts = map[string]int{}
		results  []string
	)
	h := func(_ context.Context, msg jetstream.Msg) error {
		var m event.DeployObserved
		if err := event.Decode(msg.Data(), event.SchemaDeployObserved, &m); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		attempts[m.Deployment.Environment]++
		if m.Deployment.Environment == "flaky" && attempts["flaky"] < 3 {
			return errors.New("store unavailable")
		}
		return nil
	}
	consume(t, b, bus.ConsumerIngest, h, bus.ConsumeOptions{
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnResult: func(_ string, err error, dead bool) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case dead:
				results = append(results, "dead")
			case err != nil:
				results = append(results, "retry")
			default:
				results = append(results, "ok")
			}
		},
	})

	if err := b.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(deployment("prod", time.Unix(1, 0)))); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(deployment("flaky", time.Unix(2, 0)))); err != nil {
		t.Fatal(err)
	}
	// A poison message: not JSON at all.
	if _, err := b.JetStream().Publish(ctx, event.SubjectDeployObserved, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all messages handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) == 5
	})
	mu.Lock()
	got := slices.Clone(results)
	flaky := attempts["flaky"]
	mu.Unlock()
	slices.Sort(got)
	if want := []string{"dead", "ok", "ok", "retry", "retry"}; !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if flaky != 3 {
		t.Errorf("flaky message handled %d times, want 3", flaky)
	}

	// The poison message is in the dead-letter stream with its reason and raw bytes.
	dead, err := b.JetStream().Stream(ctx, bus.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dead.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("reading dead letter: %v", err)
	}
	var dl event.DeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if raw.Subject != event.SubjectDeadPrefix+bus.ConsumerIngest || dl.Raw != "{not json" || dl.Consumer != bus.ConsumerIngest || dl.Reason == "" {
		t.Errorf("dead letter on %s = %+v", raw.Subject, dl)
	}
}

func TestDeploymentsKV(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0).UTC()
	for _, d := range []evidence.Deployment{
		deployment("prod", t0),
		deployment("prod", t0.Add(time.Hour)),  // a later observation of the same place
		deployment("prod", t0.Add(-time.Hour)), // an older one arriving late: ignored
		deployment("dev", t0),
	} {
		if err := b.PutDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	other := deployment("prod", t0)
	other.Image.Digest = "sha256:cd00000000000000000000000000000000000000000000000000000000000000"
	if err := b.PutDeployment(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := b.Deployments(ctx, img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b evidence.Deployment) int { return a.ObservedAt.Compare(b.ObservedAt) })
	if len(got) != 2 || got[0].Environment != "dev" || got[1].Environment != "prod" || !got[1].ObservedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("deployments = %+v; want dev and prod observed at %v", got, t0.Add(time.Hour))
	}
	none, err := b.Deployments(ctx, "sha256:"+"ef00000000000000000000000000000000000000000000000000000000000000")
	if err != nil || len(none) != 0 {
		t.Errorf("deployments of an unknown digest = %v, %v", none, err)
	}
}

func TestPublishEvidenceClaimCheck(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	big := strings.Repeat("x", 2<<20)
	a := evidence.ArtifactEvidence{Image: img, CollectedAt: time.Unix(1, 0).UTC(), Errors: []string{big}, Evidence: []evidence.Evidence{}}
	m := event.NewEvidenceCollected("t", a)
	if err := b.Publish(ctx, event.SubjectEvidenceCollected, m); err == nil {
		t.Fatal("a 2 MiB message was published past the 1 MiB server limit")
	}
	if err := b.PublishEvidence(ctx, m); err != nil {
		t.Fatalf("PublishEvidence: %v", err)
	}
	st, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, event.SubjectEvidenceCollected)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Data) > bus.MaxEventSize {
		t.Errorf("message of %d bytes", len(raw.Data))
	}
	var got event.EvidenceCollected
	if err := event.Decode(raw.Data, event.SchemaEvidenceCollected, &got); err != nil {
		t.Fatal(err)
	}
	if got.ArtifactRef == "" || len(got.Artifact.Errors) != 0 {
		t.Fatalf("message carries %q and %d errors", got.ArtifactRef, len(got.Artifact.Errors))
	}
	if err := b.LoadEvidence(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Artifact.Errors) != 1 || got.Artifact.Errors[0] != big {
		t.Error("the evidence set did not come back intact")
	}
	// A small one travels in the message.
	small := event.NewEvidenceCollected("u", evidence.ArtifactEvidence{Image: img, CollectedAt: time.Unix(2, 0).UTC(), Evidence: []evidence.Evidence{}})
	if err := b.PublishEvidence(ctx, small); err != nil {
		t.Fatal(err)
	}
	raw, _ = st.GetLastMsgForSubject(ctx, event.SubjectEvidenceCollected)
	if strings.Contains(string(raw.Data), "artifact_ref") {
		t.Error("a small evidence set was claim-checked")
	}
	// A reference to a document that is gone is a poison message.
	got.ArtifactRef = "evidence/nope"
	if err := b.LoadEvidence(ctx, &got); !errors.Is(err, bus.ErrPoison) {
		t.Errorf("missing document: err = %v, want ErrPoison", err)
	}
}

func TestDocuments(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	d := evidence.Digest("sha256:ab00000000000000000000000000000000000000000000000000000000000000")
	for range 2 { // idempotent
		if err := b.PutDocument(ctx, d, []byte("sbom")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.GetDocument(ctx, string(d))
	if err != nil || string(got) != "sbom" {
		t.Errorf("GetDocument = %q, %v", got, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []bus.Config{{}, {URL: "nats://x", Replicas: 2}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := bus.Config{URL: "nats://x"}
	if err := c.Validate(); err != nil || c.Replicas != 1 || c.ConnectTimeout == 0 {
		t.Errorf("defaults not applied: %+v, %v", c, err)
	}
}

func TestConsumeWorkers(t *testing.T) {
	_, b := bustest.Connect(t)
	ctx := context.Background()
	var inFlight, peak, done atomic.Int32
	release := make(chan struct{})
	consume(t, b, bus.ConsumerIngest, func(context.Context, jetstream.Msg) error {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		inFlight.Add(-1)
		done.Add(1)
		return nil
	}, bus.ConsumeOptions{Workers: 3})
	for i := range 6 {
		if err := b.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(deployment("prod", time.Unix(int64(i), 0)))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three messages in flight", func() bool { return inFlight.Load() == 3 })
	close(release)
	waitFor(t, "all six handled", func() bool { return done.Load() == 6 })
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3 (Workers)", p)
	}
}
