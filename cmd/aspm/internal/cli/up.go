package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/cmd/aspm/internal/up"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/svcmain"
)

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "aspm")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "aspm")
	}
	return "aspm-data"
}

func newUpCmd() *cobra.Command {
	var (
		cfg          up.Config
		storeDriver  string
		chAddr       svcmain.List
		chDB         string
		trustedRoots svcmain.List
		trustedKeys  svcmain.List
		logLevel     string
		logFormat    string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run ingest, scorer and api in one process on embedded NATS and SQLite",
		Long: `up runs the whole pipeline in one process: an embedded NATS server with JetStream (files
under --data-dir), the embedded SQLite store (or ClickHouse with --store clickhouse), and the
ingest, scorer and api services. It serves the dashboard and API on --listen until interrupted.

With --demo it also starts an in-process OCI registry, pushes signed demo artifacts to it
(SLSA provenance signed keyless by a private Sigstore instance, whose trusted root it writes to
<data-dir>/demo/, and key-signed), observes their deployments and waits until they are scored.`,
		Example: `  # The quick start: everything embedded, with demo data
  aspm up --demo

  # Keep the data somewhere else and listen on all interfaces
  aspm up --demo --data-dir /var/lib/aspm --listen 0.0.0.0:8080

  # Production-like: external NATS, ClickHouse, your own policies and trusted roots
  aspm up --nats-url nats://nats:4222 --store clickhouse --clickhouse-addr ch:9000 \
    --policies ./policies --trusted-root /etc/aspm/trusted_root.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := svcmain.Logger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			keys, err := svcmain.NamedPaths(trustedKeys)
			if err != nil {
				return fmt.Errorf("%w: --trusted-key %w", errUsage, err)
			}
			switch storeDriver {
			case backend.SQLite:
				cfg.Store = backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(cfg.DataDir, "aspm.db")}
			case backend.ClickHouse:
				cfg.Store = backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: chAddr, Database: chDB}}
			default:
				return fmt.Errorf("%w: --store %q: want sqlite or clickhouse", errUsage, storeDriver)
			}
			if !cfg.Demo && len(trustedRoots) == 0 && len(keys) == 0 {
				return fmt.Errorf("%w: without --demo, give at least one --trusted-root or --trusted-key to verify evidence against", errUsage)
			}
			cfg.TrustedRoots, cfg.TrustedKeys = trustedRoots, keys
			cfg.Logger, cfg.Out = log, cmd.OutOrStdout()
			fmt.Fprintf(cfg.Out, "Starting aspm (data in %s)\n", cfg.DataDir)
			return up.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address of the dashboard and API")
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for NATS files, the SQLite store and demo keys")
	f.BoolVar(&cfg.Demo, "demo", false, "seed an in-process registry with signed demo artifacts and score them")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "external NATS server URL (default: run one embedded)")
	f.StringVar(&storeDriver, "store", backend.SQLite, "store driver: sqlite or clickhouse")
	f.Var(&chAddr, "clickhouse-addr", "ClickHouse native-protocol address(es), host:port (default 127.0.0.1:9000)")
	f.StringVar(&chDB, "clickhouse-database", "aspm", "ClickHouse database, created when missing")
	f.StringVar(&cfg.PolicyPath, "policies", "", "policy directory or OPA bundle (.tar.gz) (default: built-in policies)")
	f.Var(&trustedRoots, "trusted-root", "Sigstore trusted_root.json to verify keyless signatures, [NAME=]PATH (repeatable)")
	f.StringVar(&cfg.TrustConfig, "trust-config", "", "YAML file: the trusted roots and signer identities each org accepts")
	f.StringVar(&cfg.NotifyConfig, "notify-config", "", "YAML file of notifier sinks (webhook, Jira, GitHub) for gap events; see deploy/notify/notify.example.yaml")
	f.Var(&trustedKeys, "trusted-key", "NAME=PATH of a PEM public key trusted for keyed signatures (repeatable)")
	f.StringVar(&cfg.VSAKey, "vsa-key", "", "PEM private key to sign SLSA VSAs for passing artifacts with, pushed to their registries (with --demo, created when missing)")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}
