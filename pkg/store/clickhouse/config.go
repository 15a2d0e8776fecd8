package clickhouse

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"time"
)

// Defaults for the zero fields of a Config.
const (
	DefaultAddr        = "127.0.0.1:9000"
	DefaultDatabase    = "aspm"
	DefaultUsername    = "default"
	DefaultDialTimeout = 10 * time.Second
)

// Config says where the ClickHouse store lives. Zero fields take the defaults above.
type Config struct {
	// Addr lists "host:port" addresses of the native protocol (not HTTP) of one server or of
	// the replicas of one shard.
	Addr []string
	// Database is created when missing: letters, digits and '_', not starting with a digit.
	Database string
	Username string
	Password string
	// DialTimeout bounds each connection attempt.
	DialTimeout time.Duration
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if len(c.Addr) == 0 {
		c.Addr = []string{DefaultAddr}
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.Username == "" {
		c.Username = DefaultUsername
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Validate reports every problem with c's non-zero fields (zero fields take defaults): each
// address must be "host:port" with a port number, the database an identifier, and the dial
// timeout not negative.
func (c Config) Validate() error {
	var errs []error
	for _, a := range c.Addr {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("clickhouse addr %q: %w", a, err))
			continue
		}
		if n, err := strconv.ParseUint(port, 10, 16); host == "" || err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("clickhouse addr %q: want host:port", a))
		}
	}
	if c.Database != "" && !identifier.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("clickhouse database %q: want letters, digits and '_', not starting with a digit", c.Database))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("clickhouse dial timeout %s: must not be negative", c.DialTimeout))
	}
	return errors.Join(errs...)
}

// LogValue logs c without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("addr", c.Addr),
		slog.String("database", c.Database),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.Duration("dial_timeout", c.DialTimeout),
	)
}
