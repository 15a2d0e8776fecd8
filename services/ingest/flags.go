package ingest

import (
	"flag"
	"os"
	"time"

	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/svcmain"
)

// RegisterFlags adds the ingest flags to fs; call the returned function after parsing to
// finish c (the repeatable lists, the NAME=PATH keys, the GitHub token from
// ASPM_GITHUB_TOKEN — never a flag, so it stays out of process listings).
func (c *Config) RegisterFlags(fs *flag.FlagSet) (finish func() error) {
	var roots, keys, insecure, raw, crawl, orgs, namespaces svcmain.List
	fs.StringVar(&c.Bus.URL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s)")
	fs.IntVar(&c.Bus.Replicas, "replicas", 1, "replicas of streams, buckets and object store (1 or 3)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9101", "address of /healthz, /readyz and /metrics")
	fs.Var(&roots, "trusted-root", "Sigstore trusted_root.json, [NAME=]PATH (repeatable)")
	fs.StringVar(&c.TrustConfig, "trust-config", "", "YAML file: the roots and signer identities each org trusts")
	fs.Var(&keys, "trusted-key", "NAME=PATH of a trusted PEM public key (repeatable)")
	fs.Var(&raw, "raw-payload-key", "trusted key NAME allowed to sign DSSE raw payloads, as Cloud Build's do (repeatable)")
	fs.Var(&insecure, "insecure-registry", "registry host reached over plain HTTP (repeatable)")
	fs.Int64Var(&c.Registry.MaxBlobSize, "max-blob-size", 32<<20, "largest blob read, in bytes")
	fs.IntVar(&c.Workers, "workers", 4, "messages handled at once")
	fs.IntVar(&c.EvidenceCache, "evidence-cache", collect.DefaultCacheSize, "attached documents whose verified evidence is kept in memory, so rescans neither download nor verify them again (-1 disables)")
	fs.DurationVar(&c.RescanInterval, "rescan-interval", 6*time.Hour, "re-collect deployed artifacts' evidence this often (0 disables)")
	fs.Var(&crawl, "crawl", "REGISTRY[/REPO][:TAG] to crawl on a schedule (repeatable)")
	fs.DurationVar(&c.CrawlInterval, "crawl-interval", 24*time.Hour, "how often to crawl")
	fs.Var(&orgs, "github-org", "GitHub organisation whose attestations API to ask (repeatable; token from ASPM_GITHUB_TOKEN)")
	fs.StringVar(&c.GitHub.BaseURL, "github-url", "https://api.github.com", "GitHub API endpoint (Enterprise: https://HOST/api/v3)")
	fs.StringVar(&c.Inventory, "inventory", "", "YAML inventory file of deployments, watched for changes")
	fs.StringVar(&c.Kube.Cluster, "kube-cluster", "", "watch this Kubernetes cluster's pods, naming it so (in-cluster, or --kubeconfig)")
	fs.StringVar(&c.Kube.Kubeconfig, "kubeconfig", "", "kubeconfig file for --kube-cluster (default: in-cluster service account)")
	fs.Var(&namespaces, "kube-namespace", "namespace to watch (repeatable; default: all)")
	fs.StringVar(&c.Kube.DefaultOrg, "kube-default-org", "", "org of pods without the aspm.dev/org label or annotation")
	fs.StringVar(&c.Kube.DefaultEnvironment, "kube-default-env", "", "environment of pods without the aspm.dev/environment label or annotation")
	return func() error {
		var err error
		c.TrustedRoots, c.Registry.Insecure, c.RawPayloadKeys = roots, insecure, raw
		c.Crawl, c.GitHubOrgs, c.Kube.Namespaces = crawl, orgs, namespaces
		c.GitHub.Token = os.Getenv("ASPM_GITHUB_TOKEN")
		c.TrustedKeys, err = svcmain.NamedPaths(keys)
		return err
	}
}
