package bustest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
)

func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := bustest.StartCluster(t, 3)
	b := c.Connect(3)
	for _, name := range []string{bus.StreamEvents, bus.StreamDead, "KV_" + bus.BucketEvidence, "KV_" + bus.BucketDeploy,
		"KV_" + bus.BucketDecisions, "OBJ_" + bus.ObjectStoreSBOMs} {
		st, err := b.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info := st.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v; want 3 replicas, a leader and 2 followers", name, info.Config.Replicas, info.Cluster)
		}
	}
	publish := func(i int) {
		t.Helper()
		d := evidence.Digest(fmt.Sprintf("sha256:%064x", i))
		m := event.NewEvidenceCollected(fmt.Sprint("m", i), evidence.ArtifactEvidence{Image: evidence.ImageRef{Repository: "r.example/a", Digest: d}, CollectedAt: time.Unix(int64(i), 0)})
		for {
			err := b.PublishEvidence(ctx, m)
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("publishing %d: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publish(1)
	leader := c.LeaderOf(bus.StreamEvents)
	if leader < 0 {
		t.Fatal("no leader of the events stream")
	}
	c.Stop(leader)
	if c.Node(leader) != nil {
		t.Fatal("Node returns a stopped node")
	}
	publish(2) // the other two elect a new leader and keep the stream writable
	c.Restart(leader)
	publish(3)
	// Every node, the restarted one included, ends with the three messages.
	deadline := time.Now().Add(30 * time.Second)
	for i := range c.Size() {
		for {
			n, ok := c.StreamMsgs(i, bus.StreamEvents)
			if ok && n == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d holds %d messages (copy found: %v), want 3", i, n, ok)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
