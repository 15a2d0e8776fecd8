package bustest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aspmhq/aspm/pkg/bus"
)

// Cluster is a JetStream cluster of NATS servers running in the test process, routed to each
// other on loopback, each with its files in a temporary directory of its own. A node can be
// stopped and restarted on the same ports and files.
type Cluster struct {
	tb    testing.TB
	mu    sync.Mutex
	opts  []*server.Options
	nodes []*server.Server // nil while stopped
}

// StartCluster starts a cluster of n nodes (3 for replicated streams) and waits until JetStream
// has a meta leader that every node follows. The nodes shut down when the test ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("a cluster needs at least one node, not %d", n)
	}
	ports := freePorts(tb, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i])
	}
	c := &Cluster{tb: tb, opts: make([]*server.Options, n), nodes: make([]*server.Server, n)}
	for i := range n {
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("aspm-test-%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   tb.TempDir(),
			Cluster: server.ClusterOpts{
				Name: "aspm-test",
				Host: "127.0.0.1",
				Port: ports[n+i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs: true,
			NoLog:  true,
		}
	}
	tb.Cleanup(c.shutdown)
	for i := range n {
		if err := c.start(i); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return c
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("finding a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func (c *Cluster) start(i int) error {
	opts := *c.opts[i] // NewServer keeps and changes the options it is given
	s, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("configuring NATS node %d: %w", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("NATS node %d did not accept connections within 30s", i)
	}
	c.mu.Lock()
	c.nodes[i] = s
	c.mu.Unlock()
	return nil
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*server.Server, len(nodes))
	c.mu.Unlock()
	for _, s := range nodes {
		if s != nil {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
}

// Size returns the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.opts) }

// ClientURL returns the client URL of node i (the same after a restart).
func (c *Cluster) ClientURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// URL returns the client URLs of every node, comma-separated, as bus.Config.URL takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.opts))
	for i := range c.opts {
		urls[i] = c.ClientURL(i)
	}
	return strings.Join(urls, ",")
}

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Stop shuts node i down (its clients reconnect to the others) and waits until it is gone.
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s == nil {
		c.tb.Fatalf("NATS node %d is not running", i)
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts node i again, on its ports and with its files, and waits until the cluster
// is ready again.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	if c.Node(i) != nil {
		c.tb.Fatalf("NATS node %d is running", i)
	}
	if err := c.start(i); err != nil {
		c.tb.Fatal(err)
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		c.tb.Fatal(err)
	}
}

// WaitReady waits until one running node is the JetStream meta leader and every running node
// is current with it.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		leader, current, running := 0, 0, 0
		for _, s := range c.nodes {
			if s == nil {
				continue
			}
			running++
			if s.JetStreamIsLeader() {
				leader++
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		c.mu.Unlock()
		if leader == 1 && current == running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("NATS cluster not ready after %s: %d leaders, %d of %d nodes current", timeout, leader, current, running)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LeaderOf returns the index of the running node that leads the stream named stream, or -1
// when none does.
func (c *Cluster) LeaderOf(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.nodes {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// ConsumerLeaderOf returns the index of the running node that leads the durable consumer
// named consumer of stream, or -1 when none does.
func (c *Cluster) ConsumerLeaderOf(stream, consumer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.nodes {
		if s != nil && s.JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream, consumer) {
			return i
		}
	}
	return -1
}

// Connect connects to every node of the cluster with the given replica count and creates the
// streams, retrying while the cluster settles (a new cluster may not know all its peers yet).
// The connection is closed when the test ends.
func (c *Cluster) Connect(replicas int) *bus.Bus {
	c.tb.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, bus.Config{URL: c.URL(), Name: c.tb.Name(), Replicas: replicas})
	if err != nil {
		c.tb.Fatalf("connecting to the NATS cluster: %v", err)
	}
	c.tb.Cleanup(func() { _ = b.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := b.EnsureStreams(ctx)
		if err == nil {
			return b
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("creating streams with %d replicas: %v", replicas, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// StreamMsgs returns how many messages node i holds in its own copy of the stream named
// stream, and false when the node is stopped or holds no copy.
func (c *Cluster) StreamMsgs(i int, stream string) (uint64, bool) {
	s := c.Node(i)
	if s == nil {
		return 0, false
	}
	info, err := s.Jsz(&server.JSzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Streams: true})
	if err != nil {
		return 0, false
	}
	for _, a := range info.AccountDetails {
		for _, sd := range a.Streams {
			if sd.Name == stream {
				return sd.State.Msgs, true
			}
		}
	}
	return 0, false
}
