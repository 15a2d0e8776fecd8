// Command aspm-scorer evaluates the Rego policy for collected evidence and writes scores to
// the store. Every flag has an ASPM_* environment variable; run with -h for all.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/pkg/tracing"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/scorer"
)

func main() {
	var cfg scorer.Config
	var st backend.Config
	fs := flag.NewFlagSet("aspm-scorer", flag.ExitOnError)
	fs.StringVar(&cfg.Bus.URL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s)")
	fs.IntVar(&cfg.Bus.Replicas, "replicas", 1, "replicas of streams, buckets and object store (1 or 3)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9102", "address of /healthz, /readyz and /metrics")
	fs.IntVar(&cfg.Workers, "workers", 32, "messages scored at once; their store writes are batched")
	fs.IntVar(&cfg.WriteBatch, "write-batch", store.DefaultGroupCommit, "most evaluations written to the store in one batch")
	policyPath := fs.String("policies", "", "policy directory or OPA bundle, reloaded on change (default: built-in policies)")
	cfg.VSA.RegisterFlags(fs)
	backend.RegisterFlags(fs, &st)
	os.Exit(svcmain.Run(fs, os.Args[1:], func(ctx context.Context, log *slog.Logger) error {
		stopTracing, err := tracing.Setup(ctx, fs.Name(), log)
		if err != nil {
			return svcmain.Usage(err)
		}
		defer stopTracing(ctx)
		pol, err := policy.Load(ctx, policies.FS)
		if cfg.PolicyPath = *policyPath; *policyPath != "" {
			pol, err = policy.LoadPath(ctx, *policyPath)
		}
		if err != nil {
			return svcmain.Usage(err)
		}
		store, err := backend.Open(ctx, st)
		if err != nil {
			return err
		}
		defer store.Close()
		svc, err := scorer.New(cfg, scorer.Deps{Store: store, Policy: pol, Logger: log})
		if err != nil {
			return svcmain.Usage(err)
		}
		return svc.Run(ctx)
	}))
}
