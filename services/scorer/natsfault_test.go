package scorer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// shortenAckWait lowers the scorer consumer's ack wait, so that a message whose ack was lost
// (a replica killed, a consumer leader stopped) is redelivered within the test's time rather
// than after the minute the services configure. Call it after the replicas started: each
// recreates the consumer with the configured ack wait when it starts.
func shortenAckWait(t *testing.T, ctx context.Context, b *bus.Bus, d time.Duration) {
	t.Helper()
	c, err := b.JetStream().Consumer(ctx, bus.StreamEvents, bus.ConsumerScorer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	cfg.AckWait = d
	if _, err := b.JetStream().UpdateConsumer(ctx, bus.StreamEvents, cfg); err != nil {
		t.Fatalf("shortening the scorer consumer's ack wait: %v", err)
	}
}

// TestNATSNodeRestart stops the node leading the scorer consumer of a three-node cluster while
// evidence is being published and scored, and starts it again: no message is lost, and every
// artifact ends scored exactly once.
func TestNATSNodeRestart(t *testing.T) {
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
	const n = 150
	f := newFleet(n)
	f.putDeployments(t, ctx, b)
	rs := startReplicas(t, ctx, c.URL(), path, 2)
	waitConsumer(t, ctx, b, 30*time.Second, "two replicas pulling", func(i *jetstream.ConsumerInfo) bool { return i.NumWaiting >= 2 })
	shortenAckWait(t, ctx, b, 3*time.Second)

	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := f.publish(ctx, b, i); err != nil {
				published <- err
				return
			}
			time.Sleep(25 * time.Millisecond) // keep publishing through the outage
		}
		published <- nil
	}()
	waitConsumer(t, ctx, b, 60*time.Second, "a third of the messages acked", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Consumer >= n/3 })
	// The node leading the scorer consumer (the pull requests wait there; it is often the
	// stream's leader too).
	leader := c.ConsumerLeaderOf(bus.StreamEvents, bus.ConsumerScorer)
	if leader < 0 {
		t.Fatal("no node leads the scorer consumer")
	}
	t.Logf("stopping node %d, the scorer consumer's leader (the stream's: %d); handled so far: %v, %v", leader, c.LeaderOf(bus.StreamEvents), outcomes(t, rs[0].svc.Gatherer()), outcomes(t, rs[1].svc.Gatherer()))
	c.Stop(leader)
	time.Sleep(2 * time.Second)
	if held, ok := c.StreamMsgs(leader, bus.StreamEvents); ok {
		t.Fatalf("the stopped node reports %d messages", held)
	}
	t.Logf("at restart: %v, %v", outcomes(t, rs[0].svc.Gatherer()), outcomes(t, rs[1].svc.Gatherer()))
	c.Restart(leader)
	t.Logf("node %d restarted", leader)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	info := waitConsumer(t, ctx, b, 60*time.Second, "every message acked", func(i *jetstream.ConsumerInfo) bool {
		return drained(i) && i.NumPending == 0 && i.AckFloor.Consumer >= n
	})
	t.Logf("consumer: %d deliveries of %d messages", info.Delivered.Consumer, n)
	if got := evidenceMsgs(t, ctx, b); got != n {
		t.Errorf("the stream holds %d evidence messages, want %d: none lost, none duplicated", got, n)
	}
	total := 0
	for i, r := range rs {
		o := outcomes(t, r.svc.Gatherer())
		t.Logf("replica %d: %v", i, o)
		if o["dead"] != 0 {
			t.Errorf("replica %d dead-lettered %d messages", i, o["dead"])
		}
		total += o["ok"]
	}
	if total < n {
		t.Errorf("the replicas handled %d messages successfully, want at least %d", total, n)
	}
	// The restarted node catches up: its copy of the stream holds every message again.
	deadline := time.Now().Add(30 * time.Second)
	want, _ := c.StreamMsgs((leader+1)%3, bus.StreamEvents)
	for {
		got, ok := c.StreamMsgs(leader, bus.StreamEvents)
		if ok && got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted node holds %d messages, the others %d", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.check(t, ctx, st)
}
