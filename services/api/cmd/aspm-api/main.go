// Command aspm-api serves the REST API and dashboard and accepts deployment pushes. Every flag
// has an ASPM_* environment variable; run with -h for all.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/pkg/tracing"
	"github.com/aspmhq/aspm/services/api"
)

func main() {
	var cfg api.Config
	var st backend.Config
	fs := flag.NewFlagSet("aspm-api", flag.ExitOnError)
	fs.StringVar(&cfg.Bus.URL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s)")
	fs.IntVar(&cfg.Bus.Replicas, "replicas", 1, "replicas of streams, buckets and object store (1 or 3)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address of the API, dashboard, /healthz, /readyz and /metrics")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body accepted, in bytes")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 50, "requests per second each API token may make, sustained")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 32, "API requests served at once, across tokens; more get 429 overloaded")
	fs.DurationVar(&cfg.QueryTimeout, "query-timeout", 30*time.Second, "longest an API request may work; one still running gets 503")
	fs.IntVar(&cfg.RateBurst, "rate-burst", 100, "requests each API token may make at once")
	fs.StringVar(&cfg.NotifyConfig, "notify-config", "", "YAML file of notifier sinks (webhook, Jira, GitHub) for gap events; empty runs no notifier")
	backend.RegisterFlags(fs, &st)
	os.Exit(svcmain.Run(fs, os.Args[1:], func(ctx context.Context, log *slog.Logger) error {
		stopTracing, err := tracing.Setup(ctx, fs.Name(), log)
		if err != nil {
			return svcmain.Usage(err)
		}
		defer stopTracing(ctx)
		store, err := backend.Open(ctx, st)
		if err != nil {
			return err
		}
		defer store.Close()
		svc, err := api.New(cfg, api.Deps{Store: store, Logger: log})
		if err != nil {
			return svcmain.Usage(err)
		}
		return svc.Run(ctx)
	}))
}
