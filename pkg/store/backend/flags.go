package backend

import (
	"flag"
	"strings"
)

// RegisterFlags adds the store flags (--store, --clickhouse-addr, --clickhouse-database,
// --clickhouse-user, --clickhouse-password, --sqlite-path) to fs, filling c when fs is parsed.
func RegisterFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Driver, "store", ClickHouse, "store driver: clickhouse or sqlite")
	fs.Func("clickhouse-addr", "ClickHouse native-protocol address(es), host:port, comma-separated (default 127.0.0.1:9000)", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.ClickHouse.Addr = append(c.ClickHouse.Addr, a)
			}
		}
		return nil
	})
	fs.StringVar(&c.ClickHouse.Database, "clickhouse-database", "aspm", "ClickHouse database, created when missing")
	fs.StringVar(&c.ClickHouse.Username, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.ClickHouse.Password, "clickhouse-password", "", "ClickHouse password")
	fs.StringVar(&c.SQLitePath, "sqlite-path", "aspm.db", "SQLite database file (with --store sqlite)")
}
