// Package ingest is the service that owns everything touching registries and signatures: for
// each observed deployment or rescan request it collects the artifact's attached evidence,
// verifies it, and publishes one aspm.evidence.collected event with the complete set. It writes
// no database.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/collect"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/ops"
	"github.com/aspmhq/aspm/pkg/verify"
)

// Config configures the ingest service.
type Config struct {
	// Bus says how to reach NATS.
	Bus bus.Config
	// TrustedRoots are Sigstore trusted_root.json files, each "NAME=PATH" or "PATH" (named by
	// the file's base name).
	TrustedRoots []string
	// TrustConfig, when set, is a YAML file saying which roots and signer identities each
	// organisation trusts (see verify.TrustConfig).
	TrustConfig string
	// TrustedKeys maps key names (which policies refer to) to PEM public key paths.
	TrustedKeys map[string]string
	// RawPayloadKeys names the trusted keys allowed to sign a DSSE envelope's raw payload
	// instead of its PAE encoding, as Google Cloud Build's regional keys do.
	RawPayloadKeys []string
	// Registry configures registry access.
	Registry oci.Config
	// Listen is the address of the /healthz, /readyz and /metrics endpoints; empty disables them.
	Listen string
	// Workers is how many messages are handled at once; default 4.
	Workers int
	// Fresh is how old collected evidence may be and still be reused for a new deployment of
	// the same artifact instead of asking the registry again; default 1 minute. Rescans
	// always ask the registry.
	Fresh time.Duration
	// EvidenceCache is how many attached documents' verified evidence is kept in memory, so
	// that rescans and redeployments neither download nor verify nor parse them again (see
	// collect.Cache); 0 means collect.DefaultCacheSize, a negative number disables it.
	EvidenceCache int
	// RescanInterval re-collects the evidence of every deployed artifact that is older than
	// it (evidence often appears after deployment); 0 disables; default 6h.
	RescanInterval time.Duration
	// Crawl lists registries or repositories (REGISTRY[/REPO][:TAG]) to crawl every
	// CrawlInterval (default 24h), collecting evidence for every artifact found.
	Crawl         []string
	CrawlInterval time.Duration
	// GitHubOrgs are GitHub organisations whose attestations API is asked for every artifact
	// (GitHub artifact attestations need not be in the registry). GitHub holds the API
	// endpoint (default https://api.github.com) and token.
	GitHubOrgs []string
	GitHub     github.Config
	// Inventory is a YAML inventory file (environments → workloads → images) watched for
	// changes; its deployments are observed, and removed ones end.
	Inventory string
	// Kube, when Kube.Cluster is set, watches a Kubernetes cluster's pods.
	Kube KubeConfig
	// MinBackoff and MaxBackoff bound the delay before a message whose collection failed (the
	// registry did not answer, say) is retried; it doubles with each attempt, jittered; the
	// zero values take the bus defaults (500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
}

// Validate fills in defaults and reports whether c is usable.
func (c *Config) Validate() error {
	if err := c.Bus.Validate(); err != nil {
		return err
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Fresh == 0 {
		c.Fresh = time.Minute
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = 6 * time.Hour
	}
	if c.CrawlInterval == 0 {
		c.CrawlInterval = 24 * time.Hour
	}
	if c.Workers < 0 || c.Fresh < 0 || c.RescanInterval < 0 || c.CrawlInterval < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return errors.New("ingest: workers, fresh, rescan and crawl intervals and back-offs must not be negative")
	}
	if c.Kube.Cluster != "" {
		if err := c.Kube.Validate(); err != nil {
			return err
		}
	}
	if len(c.TrustedRoots) == 0 && len(c.TrustedKeys) == 0 {
		return errors.New("ingest: at least one trusted root (--trusted-root) or key (--trusted-key) is required to verify evidence")
	}
	return c.Registry.Validate()
}

// Service is a running ingest service.
type Service struct {
	cfg Config
	log *slog.Logger
	reg *oci.Client
	ver *verify.Verifier
	env collect.EnvelopeTrust
	gh  *github.Client
	// collectOpts configure every collection's collector besides its timed document store.
	collectOpts []collect.Option
	inflight    singleflight.Group
	trust       *verify.TrustConfig
	bus         *bus.Bus
	registry    *prometheus.Registry
	metrics     metrics
	queue       *bus.QueueMetrics
}

type metrics struct {
	messages  *prometheus.CounterVec
	collected *prometheus.CounterVec
	duration  prometheus.Histogram
	reused    prometheus.Counter
	rescans   *prometheus.CounterVec
	stages    *prometheus.HistogramVec
}

// Deps are what the ingest service works with besides its configuration.
type Deps struct {
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
}

// New loads the trusted material and builds the service; it connects to nothing yet.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		roots []verify.NamedRoot
		names []string
	)
	for _, spec := range cfg.TrustedRoots {
		name, path := verify.ParseRootSpec(spec)
		tr, err := verify.LoadTrustedRoot(path)
		if err != nil {
			return nil, err
		}
		roots = append(roots, verify.NamedRoot{Name: name, Material: tr})
		names = append(names, name)
	}
	var trust *verify.TrustConfig
	if cfg.TrustConfig != "" {
		var err error
		if trust, err = verify.LoadTrustConfig(cfg.TrustConfig, names); err != nil {
			return nil, err
		}
	}
	var keys []verify.TrustedKey
	for name, p := range cfg.TrustedKeys {
		k, err := verify.LoadTrustedKey(name, p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	ver, err := verify.New(roots, keys)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	reg, err := oci.New(cfg.Registry)
	if err != nil {
		return nil, err
	}
	env := collect.EnvelopeTrust{Keys: keys, RawPayloadKeys: cfg.RawPayloadKeys, Roots: roots}
	var gh *github.Client
	if len(cfg.GitHubOrgs) > 0 {
		if gh, err = github.New(cfg.GitHub); err != nil {
			return nil, err
		}
	}
	s := &Service{cfg: cfg, log: log, reg: reg, ver: ver, env: env.Versioned(), gh: gh, trust: trust, registry: prometheus.NewRegistry()}
	s.metrics = metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_ingest_messages_total", Help: "Messages handled, by subject and outcome (ok, retry, dead).",
		}, []string{"subject", "outcome"}),
		collected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_ingest_evidence_total", Help: "Evidence documents collected, by kind and verification outcome.",
		}, []string{"kind", "verified"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aspm_ingest_collect_seconds", Help: "Time to collect and verify one artifact's evidence.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	s.metrics.reused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aspm_ingest_evidence_reused_total", Help: "Evidence sets reused (recent, or collected once for concurrent requests) instead of asking the registry.",
	})
	s.metrics.rescans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aspm_ingest_rescans_total",
		Help: "Rescans by result: changed (the new evidence is announced for scoring) or unchanged (the documents collected last time; nothing to score).",
	}, []string{"result"})
	s.metrics.stages = newStageHistogram()
	s.queue = bus.NewQueueMetrics(bus.QueueMetricsConfig{Consumers: []string{bus.ConsumerIngest}})
	s.registry.MustRegister(s.metrics.messages, s.metrics.collected, s.metrics.duration, s.metrics.reused, s.metrics.rescans, s.metrics.stages, s.queue)
	return s, nil
}

// Gatherer returns the service's Prometheus metrics.
func (s *Service) Gatherer() prometheus.Gatherer { return s.registry }

// Ready reports whether the service is connected to NATS.
func (s *Service) Ready(context.Context) error {
	if s.bus == nil || !s.bus.Connected() {
		return errors.New("not connected to NATS")
	}
	return nil
}

// Run connects to NATS, creates the streams and consumes deployment and rescan messages until
// ctx is done.
func (s *Service) Run(ctx context.Context) error {
	b, err := bus.Connect(ctx, s.cfg.Bus)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		return err
	}
	s.bus = b
	s.queue.Bind(b)
	// SBOMs go to the object store (see collect in stages.go); evidence events carry their
	// references.
	if cache := collect.NewCache(s.cfg.EvidenceCache); cache != nil {
		s.collectOpts = append(s.collectOpts, collect.WithCache(cache))
	}
	if s.gh != nil {
		s.collectOpts = append(s.collectOpts, collect.WithGitHub(s.gh, s.cfg.GitHubOrgs...))
	}
	g, ctx := errgroup.WithContext(ctx)
	if s.cfg.Listen != "" {
		g.Go(func() error { return ops.Serve(ctx, s.cfg.Listen, ops.Handler(s.Ready, s.registry), nil) })
	}
	s.log.Info("ingest running", "nats", s.cfg.Bus.URL, "listen", s.cfg.Listen, "workers", s.cfg.Workers)
	g.Go(func() error {
		return b.Consume(ctx, bus.ConsumerIngest, s.handle, bus.ConsumeOptions{
			Logger:     s.log,
			Metrics:    s.queue,
			Workers:    s.cfg.Workers,
			MinBackoff: s.cfg.MinBackoff,
			MaxBackoff: s.cfg.MaxBackoff,
			OnResult: func(subject string, err error, dead bool) {
				s.metrics.messages.WithLabelValues(subject, outcome(err, dead)).Inc()
			},
		})
	})
	if s.cfg.RescanInterval > 0 {
		g.Go(func() error { return every(ctx, s.cfg.RescanInterval/4, s.rescanStale) })
	}
	if len(s.cfg.Crawl) > 0 {
		g.Go(func() error { return every(ctx, s.cfg.CrawlInterval, s.crawl) })
	}
	if s.cfg.Inventory != "" {
		g.Go(func() error { return s.runInventory(ctx) })
	}
	if s.cfg.Kube.Cluster != "" {
		g.Go(func() error { return s.runKube(ctx) })
	}
	return g.Wait()
}
