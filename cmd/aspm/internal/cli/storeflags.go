package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/svcmain"
)

// storeFlags choose the store a command reads or writes directly: the SQLite store in aspm
// up's data directory, or ClickHouse.
type storeFlags struct {
	dataDir, driver, chDB, chUser string
	chAddr                        svcmain.List
}

func (s *storeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&s.dataDir, "data-dir", defaultDataDir(), "aspm up's data directory (for the SQLite store)")
	f.StringVar(&s.driver, "store", backend.SQLite, "store driver: sqlite or clickhouse")
	f.Var(&s.chAddr, "clickhouse-addr", "ClickHouse native-protocol address(es), host:port")
	f.StringVar(&s.chDB, "clickhouse-database", "aspm", "ClickHouse database")
	f.StringVar(&s.chUser, "clickhouse-user", "", "ClickHouse user (default \"default\"); the password is read from $ASPM_CLICKHOUSE_PASSWORD")
}

// open opens the chosen store; a SQLite store must exist already.
func (s *storeFlags) open(ctx context.Context) (store.Store, error) {
	cfg := backend.Config{Driver: s.driver, SQLitePath: filepath.Join(s.dataDir, "aspm.db"),
		ClickHouse: clickhouse.Config{Addr: s.chAddr, Database: s.chDB, Username: s.chUser,
			Password: os.Getenv("ASPM_CLICKHOUSE_PASSWORD")}}
	if s.driver == backend.SQLite {
		if _, err := os.Stat(cfg.SQLitePath); err != nil {
			return nil, fmt.Errorf("%w: no store at %s (run aspm up first, or give --data-dir)", errUsage, cfg.SQLitePath)
		}
	}
	return backend.Open(ctx, cfg)
}
