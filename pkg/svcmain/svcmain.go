// Package svcmain holds what the binaries' mains share: ASPM_* environment variables as flag
// defaults (flags win over the environment, the environment over defaults), a repeatable
// string flag, and the slog logger chosen by flags.
package svcmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// EnvName returns the environment variable for flag name: "nats-url" → "ASPM_NATS_URL".
func EnvName(name string) string {
	return "ASPM_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Parse parses args into fs and then, for every flag not given on the command line, applies
// its ASPM_* environment variable when set. It returns an error naming the variable when a
// value is invalid.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, serr)
			}
		}
	})
	return err
}

// List is a flag.Value collecting repeated or comma-separated values.
type List []string

// String returns the values joined by commas.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values in v.
func (l *List) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// Type names the value for pflag's help output.
func (l *List) Type() string { return "strings" }

// NamedPaths parses "name=path" items into a map; it fails on an item without "=".
func NamedPaths(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range items {
		name, path, ok := strings.Cut(it, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("%q: want NAME=PATH", it)
		}
		out[name] = path
	}
	return out, nil
}

// Logger returns a slog logger writing to w at level ("debug", "info", "warn", "error") in
// format ("json" or "text").
func Logger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}

// Run is the body of a service binary's main: it adds --log-level and --log-format to fs,
// parses args (with ASPM_* environment variables), builds the logger, and calls run with a
// context cancelled on SIGINT or SIGTERM. It returns the exit code: 2 for a bad command line
// or configuration error reported by run before starting (wrap it with Usage), 1 when run
// fails, 0 otherwise.
func Run(fs *flag.FlagSet, args []string, run func(ctx context.Context, log *slog.Logger) error) int {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "json", "log format: json or text")
	if err := Parse(fs, args); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return 2
	}
	log, err := Logger(os.Stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error(fs.Name()+" stopped", "err", err)
		if errors.Is(err, ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// ErrUsage marks configuration errors found before a service starts.
var ErrUsage = errors.New("invalid configuration")

// Usage wraps err as a configuration error.
func Usage(err error) error { return fmt.Errorf("%w: %w", ErrUsage, err) }
