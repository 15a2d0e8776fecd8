package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/cmd/aspm/internal/bench"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/svcmain"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg         bench.Config
		storeDriver string
		chAddr      svcmain.List
		chDB        string
		logLevel    string
		output      outputFlag
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the pipeline: seed signed artifacts, score them all, print JSON",
		Long: `bench is aspm's performance harness, one command on one machine. It seeds N artifacts into an
in-process OCI registry, each with a freshly signed keyless SLSA v1 provenance bundle (a private
Sigstore instance) and a CycloneDX SBOM of --sbom-components components; publishes their
deployments; runs ingest and the scorer on embedded NATS and the chosen --store until every
artifact is scored; and prints one JSON object on stdout (-o yaml or table for other formats):

  artifacts_per_second        end to end, from publishing the deployments to the last score
  stages                      milliseconds per artifact in fetch, verify, parse, publish,
                              evaluate and store (summed over concurrent workers)
  sbom_components_per_second  every SBOM's components over the same time
  peak_rss_bytes              the process's peak resident set size (getrusage maxrss)
  bare_verify_per_second      sigstore-go alone parsing and verifying the same bundles
  ratio                       artifacts_per_second / bare_verify_per_second
  rescan_cost_ratio           with --rescan: a second collection of the same, unchanged
                              evidence, timed, over the first

Progress goes to stderr when it is a terminal. With --store clickhouse, each run's artifacts
belong to a fresh org (bench-<random>) in --clickhouse-database, which is created when missing.`,
		Example: `  # The default: 2,000 artifacts with 200-component SBOMs on SQLite
  aspm bench

  # Verification cost only, no SBOMs
  aspm bench --sbom-components 0

  # Large SBOMs, and the cost of rescanning unchanged evidence, on ClickHouse
  aspm bench --sbom-components 1000 --rescan --store clickhouse --clickhouse-addr 127.0.0.1:9000

  # 20,000 artifacts
  aspm bench -n 20000 --store clickhouse`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := svcmain.Logger(cmd.ErrOrStderr(), logLevel, "text")
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			cfg.Logger = log
			switch storeDriver {
			case backend.SQLite:
				// Run chooses a fresh file in its work directory.
			case backend.ClickHouse:
				cfg.Store = backend.Config{Driver: backend.ClickHouse, ClickHouse: clickhouse.Config{Addr: chAddr, Database: chDB}}
			default:
				return fmt.Errorf("%w: --store %q: want sqlite or clickhouse", errUsage, storeDriver)
			}
			if cfg.Artifacts <= 0 || cfg.SBOMComponents < 0 {
				return fmt.Errorf("%w: --artifacts must be positive and --sbom-components not negative", errUsage)
			}
			if isTerminal(cmd.ErrOrStderr()) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, err := bench.Run(cmd.Context(), cfg)
			if res != nil && (err == nil || res.Seconds > 0) {
				// Partial measurements are printed too when the pipeline ran out of time.
				werr := output.write(cmd.OutOrStdout(), res, func(w io.Writer) error { return writeFields(w, res) })
				if werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.Artifacts, "artifacts", "n", 2000, "how many artifacts to seed and score")
	f.IntVar(&cfg.SBOMComponents, "sbom-components", 200, "components in each artifact's CycloneDX SBOM; 0 attaches no SBOM")
	f.BoolVar(&cfg.Rescan, "rescan", false, "also time a second collection of the same, unchanged evidence")
	f.IntVar(&cfg.IngestWorkers, "ingest-workers", 16, "messages ingest handles at once")
	f.IntVar(&cfg.ScorerWorkers, "scorer-workers", 64, "messages the scorer handles at once (their store writes are batched)")
	f.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "give up when the pipeline has not scored everything by then")
	f.StringVar(&cfg.WorkDir, "work-dir", "", "directory for NATS, registry blobs and bundles (default: a temporary one, removed)")
	f.StringVar(&storeDriver, "store", backend.SQLite, "store driver: sqlite (a fresh file) or clickhouse")
	f.Var(&chAddr, "clickhouse-addr", "ClickHouse native-protocol address(es), host:port (default 127.0.0.1:9000)")
	f.StringVar(&chDB, "clickhouse-database", "aspm_bench_pipeline", "ClickHouse database, created when missing")
	f.StringVar(&logLevel, "log-level", "error", "services' log level: debug, info, warn or error")
	registerOutput(cmd, &output, formatJSON, "one measurement a line")
	return cmd
}
