// Command aspm-ingest collects and verifies the evidence of observed deployments. Every flag
// has an ASPM_* environment variable (e.g. --nats-url is ASPM_NATS_URL); run with -h for all.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/pkg/tracing"
	"github.com/aspmhq/aspm/services/ingest"
)

func main() {
	var cfg ingest.Config
	fs := flag.NewFlagSet("aspm-ingest", flag.ExitOnError)
	finish := cfg.RegisterFlags(fs)
	os.Exit(svcmain.Run(fs, os.Args[1:], func(ctx context.Context, log *slog.Logger) error {
		stopTracing, err := tracing.Setup(ctx, fs.Name(), log)
		if err != nil {
			return svcmain.Usage(err)
		}
		defer stopTracing(ctx)
		if err := finish(); err != nil {
			return svcmain.Usage(err)
		}
		svc, err := ingest.New(cfg, ingest.Deps{Logger: log})
		if err != nil {
			return svcmain.Usage(err)
		}
		return svc.Run(ctx)
	}))
}
