// Package up runs the whole pipeline in one process — an embedded NATS server with JetStream,
// the store, and the ingest, scorer and api services — and, for the demo, an in-process OCI
// registry seeded with signed artifacts whose deployments it observes.
package up

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/ops"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/pkg/tracing"
	"github.com/aspmhq/aspm/pkg/vsa"
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/api"
	"github.com/aspmhq/aspm/services/ingest"
	"github.com/aspmhq/aspm/services/scorer"
)

// Config configures an all-in-one run.
type Config struct {
	// Listen is the API and dashboard address; default 127.0.0.1:8080.
	Listen string
	// DataDir holds NATS's files, the SQLite store and the demo's trusted material.
	DataDir string
	// Demo seeds an in-process registry with signed artifacts and observes their deployments.
	Demo bool
	// NATSURL connects to an external NATS; empty embeds one.
	NATSURL string
	// Store chooses the store; the zero value is SQLite in DataDir.
	Store backend.Config
	// OpenStore, when set, replaces opening Store (tests pass an already open store).
	OpenStore func(ctx context.Context) (store.Store, error)
	// PolicyPath is a policy directory or OPA bundle; empty uses the built-in policies.
	PolicyPath string
	// TrustedRoots ([NAME=]PATH) and TrustedKeys (name → PEM path) verify evidence; the demo
	// adds its own. TrustConfig names a YAML file of per-organisation roots and identities.
	TrustedRoots []string
	TrustedKeys  map[string]string
	TrustConfig  string
	// NotifyConfig, when set, names the notifier's configuration file: the api then sends gap
	// events to its webhooks, Jira and GitHub sinks.
	NotifyConfig string
	// VSAKey, when set, is the PEM private key the scorer signs SLSA verification summary
	// attestations with, for artifacts that pass an environment's policy; it pushes them to
	// the artifacts' registries. With Demo, a missing key file is generated.
	VSAKey string
	// Registry configures registry access.
	Registry oci.Config
	// Logger receives the services' logs; Out the progress lines meant for a person.
	Logger *slog.Logger
	Out    io.Writer
	// OnReady, when set, is called once the API serves, with its base URL, and — for the demo —
	// after the seeded deployments were scored.
	OnReady func(url string)
	// DemoTimeout bounds waiting for the demo to be scored; default 2 minutes.
	DemoTimeout time.Duration
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		return errors.New("a data directory is required")
	}
	if c.Store.Driver == "" {
		c.Store = backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(c.DataDir, "aspm.db")}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.DemoTimeout == 0 {
		c.DemoTimeout = 2 * time.Minute
	}
	if c.TrustedKeys == nil {
		c.TrustedKeys = map[string]string{}
	}
	return nil
}

// Run starts everything and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	log := cfg.Logger
	// One tracer provider for the three services: their spans share the service name "aspm".
	stopTracing, err := tracing.Setup(ctx, "aspm", log)
	if err != nil {
		return err
	}
	defer stopTracing(ctx)
	g, ctx := errgroup.WithContext(ctx)

	natsURL := cfg.NATSURL
	if natsURL == "" {
		ns, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: filepath.Join(cfg.DataDir, "nats")})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		fmt.Fprintf(cfg.Out, "NATS (embedded, JetStream) on %s, data in %s\n", natsURL, filepath.Join(cfg.DataDir, "nats"))
	}

	open := cfg.OpenStore
	if open == nil {
		open = func(ctx context.Context) (store.Store, error) { return backend.Open(ctx, cfg.Store) }
	}
	st, err := open(ctx)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer st.Close()

	pol, err := loadPolicy(ctx, cfg.PolicyPath)
	if err != nil {
		return err
	}

	adminFile, err := bootstrapAdmin(ctx, st, cfg.DataDir)
	if err != nil {
		return err
	}
	if adminFile != "" {
		fmt.Fprintf(cfg.Out, "No API tokens existed: made an admin token for every org, saved in %s (keep it secret).\n", adminFile)
	}
	var token string
	var world *demo.World
	if cfg.Demo {
		if token, err = demoToken(ctx, st, cfg.DataDir); err != nil {
			return err
		}
		w, err := startDemo(ctx, g, &cfg)
		if err != nil {
			return err
		}
		world = w
	}

	busCfg := bus.Config{URL: natsURL}
	ing, err := ingest.New(ingest.Config{Bus: busCfg, TrustedRoots: cfg.TrustedRoots, TrustedKeys: cfg.TrustedKeys, TrustConfig: cfg.TrustConfig, Registry: cfg.Registry}, ingest.Deps{Logger: log.With("service", "ingest")})
	if err != nil {
		return err
	}
	sc, err := scorer.New(scorer.Config{Bus: busCfg, PolicyPath: cfg.PolicyPath, Workers: 32, VSA: scorer.VSAConfig{KeyPath: cfg.VSAKey, Registry: cfg.Registry}}, scorer.Deps{Store: st, Policy: pol, Logger: log.With("service", "scorer")})
	if err != nil {
		return err
	}
	ap, err := api.New(api.Config{Bus: busCfg, Listen: cfg.Listen, NotifyConfig: cfg.NotifyConfig}, api.Deps{
		Store: st, Logger: log.With("service", "api"), Gatherers: []prometheus.Gatherer{ing.Gatherer(), sc.Gatherer()},
	})
	if err != nil {
		return err
	}
	g.Go(func() error { return ing.Run(ctx) })
	g.Go(func() error { return sc.Run(ctx) })
	g.Go(func() error { return ap.Run(ctx) })
	g.Go(func() error {
		addr, err := ap.Addr(ctx)
		if err != nil {
			return nil // shutting down
		}
		url := "http://" + addr
		if world != nil {
			if err := observe(ctx, busCfg, world, st, cfg); err != nil {
				return err
			}
		}
		if token == "" {
			fmt.Fprintf(cfg.Out, "\nDashboard: %s/\nAPI:       %s/v1/coverage (send Authorization: Bearer <token>; make one with aspm token create)\n", url, url)
		} else {
			tokFile := filepath.Join(cfg.DataDir, DemoTokenFile)
			fmt.Fprintf(cfg.Out, "\nDashboard: %s/#token=%s\nAPI:       %s/v1/coverage\nToken:     %s (read-only, org %s; saved in %s)\n"+
				"Try:       curl -H \"Authorization: Bearer $(cat %s)\" %s/v1/gaps\n",
				url, token, url, token, demo.Org, tokFile, tokFile, url)
		}
		if cfg.OnReady != nil {
			cfg.OnReady(url)
		}
		return nil
	})
	return g.Wait()
}

func loadPolicy(ctx context.Context, path string) (*policy.Engine, error) {
	if path == "" {
		return policy.Load(ctx, policies.FS)
	}
	return policy.LoadPath(ctx, path)
}

// startDemo serves an in-process registry, seeds it, writes the demo's trusted root and key to
// the data directory and trusts them.
func startDemo(ctx context.Context, g *errgroup.Group, cfg *Config) (*demo.World, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting demo registry: %w", err)
	}
	g.Go(func() error { return ops.ServeListener(ctx, l, oci.NewRegistryHandler(), nil) })
	host := l.Addr().String()
	// The demo registry speaks plain HTTP on loopback; nothing else is trusted to.
	cfg.Registry.Insecure = append(cfg.Registry.Insecure, host)

	ss, err := demo.NewSigstore()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "demo")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating demo directory: %w", err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		return nil, err
	}
	keyPEM, err := ss.PublicKeyPEM()
	if err != nil {
		return nil, err
	}
	rootPath, keyPath := filepath.Join(dir, "trusted_root.json"), filepath.Join(dir, demo.KeyName+".pub")
	for p, b := range map[string][]byte{rootPath: rootJSON, keyPath: keyPEM} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", p, err)
		}
	}
	cfg.TrustedRoots = append(cfg.TrustedRoots, "demo="+rootPath)
	cfg.TrustedKeys[demo.KeyName] = keyPath
	if cfg.VSAKey != "" {
		if _, err := vsa.GenerateKey(cfg.VSAKey); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Out, "Signing VSAs with %s (public key %s.pub)\n", cfg.VSAKey, cfg.VSAKey)
	}

	client, err := oci.New(cfg.Registry)
	if err != nil {
		return nil, err
	}
	world, err := demo.Seed(ctx, client, host, ss)
	if err != nil {
		return nil, fmt.Errorf("seeding demo registry: %w", err)
	}
	artifacts := map[string]bool{}
	for _, d := range world.Deployments {
		artifacts[d.Image.String()] = true
	}
	fmt.Fprintf(cfg.Out, "Demo registry on %s: %d signed artifacts in %d deployments (trusted root %s)\n",
		host, len(artifacts), len(world.Deployments), rootPath)
	return world, nil
}

// observe publishes the demo's deployments, as an inventory would, and waits until every one
// is scored.
func observe(ctx context.Context, bc bus.Config, w *demo.World, st store.Store, cfg Config) error {
	b, err := bus.Connect(ctx, bc)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, d := range w.Deployments {
		if err := b.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(d)); err != nil {
			return err
		}
	}
	fmt.Fprintf(cfg.Out, "Observed %d demo deployments; collecting, verifying and scoring", len(w.Deployments))
	ctx, cancel := context.WithTimeout(ctx, cfg.DemoTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := scored(ctx, st, w)
		if err != nil {
			return err
		}
		if done {
			fmt.Fprintln(cfg.Out, " done.")
			// Record today's coverage now rather than at the scorer's next roll-up, so the
			// dashboard's trend starts with the demo.
			if err := st.RollupCoverage(ctx, time.Now()); err != nil {
				return fmt.Errorf("rolling up coverage: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(cfg.Out)
			return fmt.Errorf("demo deployments were not all scored within %s", cfg.DemoTimeout)
		case <-tick.C:
			fmt.Fprint(cfg.Out, ".")
		}
	}
}

// scored reports whether every demo deployment has a current score at least as new as its
// observation.
func scored(ctx context.Context, st store.Reader, w *demo.World) (bool, error) {
	for _, d := range w.Deployments {
		scores, err := st.CurrentScores(ctx, d.Image.Digest)
		if err != nil {
			return false, fmt.Errorf("reading scores: %w", err)
		}
		found := false
		for _, s := range scores {
			if s.Environment == d.Environment && !s.EvaluatedAt.Before(d.ObservedAt) {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}
