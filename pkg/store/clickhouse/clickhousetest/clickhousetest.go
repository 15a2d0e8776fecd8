// Package clickhousetest gives tests a real ClickHouse: the server the project's own script
// starts (scripts/clickhouse.sh start), on loopback. Each test gets a database of its own,
// dropped when the test ends. Without a server the tests skip, except in CI (CI=true) or when
// ASPM_CLICKHOUSE_ADDR is set, where they fail.
package clickhousetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/aspmhq/aspm/pkg/store/clickhouse"
)

// EnvAddr names the environment variable holding the native-protocol address of the server.
const EnvAddr = "ASPM_CLICKHOUSE_ADDR"

// DefaultAddr is where scripts/clickhouse.sh starts the server.
const DefaultAddr = "127.0.0.1:19000"

// Addr returns the native-protocol address of the test server, from $ASPM_CLICKHOUSE_ADDR or
// DefaultAddr, after checking that it answers. When it does not, Addr fails tb if CI=true or
// the address was set explicitly, and skips tb otherwise.
func Addr(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv(EnvAddr)
	explicit := addr != ""
	if !explicit {
		addr = DefaultAddr
	}
	if err := ping(tb.Context(), addr); err != nil {
		if explicit || os.Getenv("CI") == "true" {
			tb.Fatalf("ClickHouse at %s (%s) does not answer: %v", addr, EnvAddr, err)
		}
		tb.Skipf("ClickHouse at %s does not answer (%v); start it with `scripts/clickhouse.sh start` "+
			"or point %s at a server", addr, err, EnvAddr)
	}
	return addr
}

func ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := chgo.Open(&chgo.Options{Addr: []string{addr}, DialTimeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Ping(ctx)
}

// Config returns a configuration for a database of tb's own on the test server, named
// aspm_test_<random hex>; the database is dropped when tb ends. Opening it is left to the
// caller.
func Config(tb testing.TB) clickhouse.Config {
	tb.Helper()
	addr := Addr(tb)
	var b [8]byte
	rand.Read(b[:])
	cfg := clickhouse.Config{Addr: []string{addr}, Database: "aspm_test_" + hex.EncodeToString(b[:])}
	tb.Cleanup(func() {
		// Generous: on a loaded machine dropping a database with many parts takes a while.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		conn, err := chgo.Open(&chgo.Options{Addr: cfg.Addr, DialTimeout: 10 * time.Second})
		if err != nil {
			tb.Errorf("dropping test database %s: %v", cfg.Database, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+cfg.Database+"`"); err != nil {
			tb.Errorf("dropping test database %s: %v", cfg.Database, err)
		}
	})
	return cfg
}

// Open opens a store in a fresh database of tb's own (see Config), closed and dropped when tb
// ends. It fails tb when the store cannot be opened.
func Open(tb testing.TB) *clickhouse.Store {
	tb.Helper()
	cfg := Config(tb)
	s, err := clickhouse.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("opening ClickHouse store in %s: %v", cfg.Database, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("closing ClickHouse store: %v", err)
		}
	})
	return s
}
