// Package backend opens the store a deployment is configured for: ClickHouse in production,
// the embedded SQLite file on a single machine.
package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// Drivers.
const (
	ClickHouse = "clickhouse"
	SQLite     = "sqlite"
)

// Config chooses and configures a store.
type Config struct {
	// Driver is ClickHouse or SQLite.
	Driver     string
	ClickHouse clickhouse.Config
	// SQLitePath is the database file; its directory is created when missing.
	SQLitePath string
}

// Validate reports whether c names a known driver with what it needs.
func (c Config) Validate() error {
	switch c.Driver {
	case ClickHouse:
		return c.ClickHouse.Validate()
	case SQLite:
		if c.SQLitePath == "" {
			return fmt.Errorf("store: the sqlite driver needs a database path")
		}
		return nil
	}
	return fmt.Errorf("store: driver %q: want %s or %s", c.Driver, ClickHouse, SQLite)
}

// Open opens the configured store and applies its migrations.
func Open(ctx context.Context, c Config) (store.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Driver == ClickHouse {
		s, err := clickhouse.Open(ctx, c.ClickHouse)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if c.SQLitePath != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(c.SQLitePath), 0o750); err != nil {
			return nil, fmt.Errorf("creating store directory: %w", err)
		}
	}
	s, err := sqlite.Open(ctx, c.SQLitePath)
	if err != nil {
		return nil, err
	}
	return s, nil
}
