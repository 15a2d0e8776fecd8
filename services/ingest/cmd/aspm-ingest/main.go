// Command aspm-ingest collects and verifies the evidence of observed deployments. Every flag
// has an ASPM_* environment variable (e.g. --nats-url is ASPM_NATS_URL); run with -h for all.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/aspmhq/aspm/pkg/svcmain"
	"github.com/aspmhq/aspm/services/ingest"
)

func main() {
	var cfg ingest.Config
	var roots, keys, insecure, raw, crawl, orgs svcmain.List
	fs := flag.NewFlagSet("aspm-ingest", flag.ExitOnError)
	fs.StringVar(&cfg.Bus.URL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s)")
	fs.IntVar(&cfg.Bus.Replicas, "replicas", 1, "replicas of streams, buckets and object store (1 or 3)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9101", "address of /healthz, /readyz and /metrics")
	fs.Var(&roots, "trusted-root", "Sigstore trusted_root.json, [NAME=]PATH (repeatable)")
	fs.StringVar(&cfg.TrustConfig, "trust-config", "", "YAML file: the roots and signer identities each org trusts")
	fs.Var(&keys, "trusted-key", "NAME=PATH of a trusted PEM public key (repeatable)")
	fs.Var(&raw, "raw-payload-key", "trusted key NAME allowed to sign DSSE raw payloads, as Cloud Build's do (repeatable)")
	fs.Var(&insecure, "insecure-registry", "registry host reached over plain HTTP (repeatable)")
	fs.Int64Var(&cfg.Registry.MaxBlobSize, "max-blob-size", 32<<20, "largest blob read, in bytes")
	fs.IntVar(&cfg.Workers, "workers", 4, "messages handled at once")
	fs.DurationVar(&cfg.RescanInterval, "rescan-interval", 6*time.Hour, "re-collect deployed artifacts' evidence this often (0 disables)")
	fs.Var(&crawl, "crawl", "REGISTRY[/REPO][:TAG] to crawl on a schedule (repeatable)")
	fs.DurationVar(&cfg.CrawlInterval, "crawl-interval", 24*time.Hour, "how often to crawl")
	fs.Var(&orgs, "github-org", "GitHub organisation whose attestations API to ask (repeatable; token from ASPM_GITHUB_TOKEN)")
	fs.StringVar(&cfg.GitHub.BaseURL, "github-url", "https://api.github.com", "GitHub API endpoint (Enterprise: https://HOST/api/v3)")
	os.Exit(svcmain.Run(fs, os.Args[1:], func(ctx context.Context, log *slog.Logger) error {
		var err error
		cfg.TrustedRoots, cfg.Registry.Insecure, cfg.RawPayloadKeys = roots, insecure, raw
		cfg.Crawl, cfg.GitHubOrgs, cfg.GitHub.Token = crawl, orgs, os.Getenv("ASPM_GITHUB_TOKEN")
		if cfg.TrustedKeys, err = svcmain.NamedPaths(keys); err != nil {
			return svcmain.Usage(err)
		}
		svc, err := ingest.New(cfg, ingest.Deps{Logger: log})
		if err != nil {
			return svcmain.Usage(err)
		}
		return svc.Run(ctx)
	}))
}
