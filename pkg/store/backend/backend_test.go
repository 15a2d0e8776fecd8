package backend_test

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  backend.Config
		ok   bool
	}{
		{name: "sqlite", cfg: backend.Config{Driver: backend.SQLite, SQLitePath: "data/aspm.db"}, ok: true},
		{name: "sqlite in memory", cfg: backend.Config{Driver: backend.SQLite, SQLitePath: ":memory:"}, ok: true},
		{name: "clickhouse with the defaults", cfg: backend.Config{Driver: backend.ClickHouse}, ok: true},
		{
			name: "clickhouse with replicas",
			cfg:  backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{"ch-0:9000", "ch-1:9000", "[::1]:9440"}}},
			ok:   true,
		},
		{name: "no driver", cfg: backend.Config{SQLitePath: "aspm.db"}},
		{name: "unknown driver", cfg: backend.Config{Driver: "postgres", SQLitePath: "aspm.db"}},
		{name: "driver in capitals", cfg: backend.Config{Driver: "SQLite", SQLitePath: "aspm.db"}},
		{name: "sqlite without a path", cfg: backend.Config{Driver: backend.SQLite}},
		{name: "clickhouse addr without a port", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{"ch-0"}}}},
		{name: "clickhouse addr without a host", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{":9000"}}}},
		{name: "clickhouse port 0", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{"ch-0:0"}}}},
		{name: "clickhouse port out of range", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{"ch-0:65536"}}}},
		{name: "clickhouse one bad addr of two", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: []string{"ch-0:9000", "ch-1"}}}},
		{name: "clickhouse bad database", cfg: backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Database: "aspm-prod"}}},
		// The sqlite driver ignores a broken ClickHouse section, and the other way round.
		{name: "sqlite ignores clickhouse", cfg: backend.Config{Driver: backend.SQLite, SQLitePath: "aspm.db", ClickHouse: clickhouse.Config{Addr: []string{"bad"}}}, ok: true},
		{name: "clickhouse ignores sqlite", cfg: backend.Config{Driver: backend.ClickHouse}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate(): %v", err)
			}
			if !tt.ok && err == nil {
				t.Errorf("Validate() = nil for %+v, want an error", tt.cfg)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "missing", "parents", "aspm.db")
	s, err := backend.Open(ctx, backend.Config{Driver: backend.SQLite, SQLitePath: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("database file %s: %v, %v", path, fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("created directory %s: %v, %v; want it closed to others", filepath.Dir(path), fi, err)
	}
}

func TestOpenSQLiteTwice(t *testing.T) {
	// Opening an existing database applies no migration twice.
	ctx := context.Background()
	cfg := backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(t.TempDir(), "aspm.db")}
	for i := range 2 {
		s, err := backend.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping #%d: %v", i+1, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}

func TestOpenSQLiteInMemory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := backend.Open(ctx, backend.Config{Driver: backend.SQLite, SQLitePath: ":memory:"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("an in-memory store wrote to the working directory: %v, %v", entries, err)
	}
}

// notClickHouse starts a TCP server that accepts connections and closes them at once: an
// address that answers, but not with the ClickHouse protocol.
func notClickHouse(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.0 400 Bad Request\r\n\r\n")
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  func(t *testing.T) backend.Config
	}{
		{"invalid config", func(*testing.T) backend.Config { return backend.Config{Driver: "postgres"} }},
		{"sqlite without a path", func(*testing.T) backend.Config { return backend.Config{Driver: backend.SQLite} }},
		{"sqlite path with a query", func(*testing.T) backend.Config {
			return backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(dir, "aspm.db?mode=ro")}
		}},
		{"sqlite directory under a file", func(*testing.T) backend.Config {
			return backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(file, "sub", "aspm.db")}
		}},
		{"sqlite path is a directory", func(*testing.T) backend.Config {
			return backend.Config{Driver: backend.SQLite, SQLitePath: dir}
		}},
		{"clickhouse at an address that is not ClickHouse", func(t *testing.T) backend.Config {
			return backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{
				Addr:        []string{notClickHouse(t)},
				DialTimeout: 2 * time.Second,
			}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := backend.Open(ctx, tt.cfg(t))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			t.Logf("Open: %v", err)
			// A typed nil in the interface would pass a "s != nil" check and then panic.
			if s != nil {
				t.Errorf("Open returned the store %#v (%T) with its error, want a nil interface", s, s)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	defaults := backend.Config{
		Driver:     backend.ClickHouse,
		ClickHouse: clickhouse.Config{Database: "aspm", Username: "default"},
		SQLitePath: "aspm.db",
	}
	tests := []struct {
		name string
		args []string
		want backend.Config
	}{
		{name: "defaults", args: nil, want: defaults},
		{
			name: "sqlite with clickhouse addresses",
			args: []string{"--store", "sqlite", "--sqlite-path", "x", "--clickhouse-addr", "a:1,b:2"},
			want: backend.Config{
				Driver:     backend.SQLite,
				ClickHouse: clickhouse.Config{Addr: []string{"a:1", "b:2"}, Database: "aspm", Username: "default"},
				SQLitePath: "x",
			},
		},
		{
			name: "every clickhouse flag",
			args: []string{
				"-clickhouse-addr=ch-0:9000", "-clickhouse-database=prod", "-clickhouse-user=aspm",
				"-clickhouse-password=s3cret",
			},
			want: backend.Config{
				Driver:     backend.ClickHouse,
				ClickHouse: clickhouse.Config{Addr: []string{"ch-0:9000"}, Database: "prod", Username: "aspm", Password: "s3cret"},
				SQLitePath: "aspm.db",
			},
		},
		{
			name: "addresses with spaces and empty items",
			args: []string{"--clickhouse-addr", " a:1 , ,b:2,"},
			want: backend.Config{
				Driver:     backend.ClickHouse,
				ClickHouse: clickhouse.Config{Addr: []string{"a:1", "b:2"}, Database: "aspm", Username: "default"},
				SQLitePath: "aspm.db",
			},
		},
		{
			name: "repeated addresses add up",
			args: []string{"--clickhouse-addr", "a:1", "--clickhouse-addr", "b:2,c:3"},
			want: backend.Config{
				Driver:     backend.ClickHouse,
				ClickHouse: clickhouse.Config{Addr: []string{"a:1", "b:2", "c:3"}, Database: "aspm", Username: "default"},
				SQLitePath: "aspm.db",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c backend.Config
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			backend.RegisterFlags(fs, &c)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, c); diff != "" {
				t.Errorf("Config after Parse(%q) (-want +got):\n%s", tt.args, diff)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() of the parsed config: %v", err)
			}
		})
	}
}

func TestRegisterFlagsNames(t *testing.T) {
	var c backend.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	backend.RegisterFlags(fs, &c)
	var got []string
	fs.VisitAll(func(f *flag.Flag) { got = append(got, f.Name) })
	want := []string{"clickhouse-addr", "clickhouse-database", "clickhouse-password", "clickhouse-user", "sqlite-path", "store"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
}
