// Package bustest starts real NATS servers with JetStream inside tests.
package bustest

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aspmhq/aspm/pkg/bus"
)

// Start runs a NATS server with JetStream on a random loopback port, its files in a temporary
// directory, and shuts it down when the test ends.
func Start(tb testing.TB) *server.Server {
	tb.Helper()
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("starting NATS: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// Connect starts a server with Start, connects to it and creates the streams.
func Connect(tb testing.TB) (*server.Server, *bus.Bus) {
	tb.Helper()
	s := Start(tb)
	b, err := bus.Connect(context.Background(), bus.Config{URL: s.ClientURL(), Name: tb.Name()})
	if err != nil {
		tb.Fatalf("connecting to NATS: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	if err := b.EnsureStreams(context.Background()); err != nil {
		tb.Fatalf("creating streams: %v", err)
	}
	return s, b
}
