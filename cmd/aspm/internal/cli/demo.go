package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/store/backend"
)

// Files the demo seeder writes: into --trust-dir what ingest must trust and the seeded
// deployments, into --token-dir the tokens it makes.
const (
	seedRootFile   = "trusted_root.json"
	seedWorldFile  = "demo-deployments.json"
	seedDemoToken  = "demo-token"
	seedAdminToken = "admin-token"
)

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Seed an external stack (a registry, NATS, the store) with the signed demo",
		Long: `demo seeds a stack whose services run on their own — docker compose, Kubernetes — with what
aspm up --demo makes in process: signed demo artifacts in an OCI registry, their trusted root
and key, the deployments that run them, and API tokens.`,
		Example: `  aspm demo seed --registry registry:5000 --plain-http --trust-dir /var/lib/aspm/trust \
    --nats-url nats://nats:4222`,
	}
	cmd.AddCommand(newDemoSeedCmd())
	return cmd
}

// seedConfig is what aspm demo seed does.
type seedConfig struct {
	registry  string
	plainHTTP bool
	trustDir  string
	natsURL   string
	tokenDir  string
	dashboard string
	store     backend.Config
}

func newDemoSeedCmd() *cobra.Command {
	var cfg seedConfig
	cmd := &cobra.Command{
		Use:   "seed --registry HOST:PORT --trust-dir DIR",
		Short: "Push signed demo artifacts to a registry and publish their deployments",
		Long: `seed pushes the demo artifacts to the registry at --registry, with SLSA provenance and SBOMs
attached as OCI 1.1 referrers and signed by a private Sigstore instance made for the purpose
(keyless) and by its key. It writes that instance's trusted root and public key to --trust-dir
for the ingest service to trust:

  ingest --trusted-root demo=DIR/trusted_root.json --trusted-key tekton-chains=DIR/tekton-chains.pub

With --nats-url it publishes the demo deployments, as an inventory would, for ingest to collect
and the scorer to score. With --token-dir it opens the store (--store, --clickhouse-*) and makes
a read-only token for the demo's org, saved in DIR/demo-token, and — when the store has no
tokens at all — an admin token for every org, saved in DIR/admin-token (never printed).

Seeding is done once: when --trust-dir already holds a seeded demo whose artifacts the registry
still has, seed only publishes the deployments again and checks the tokens, so running it on
every start keeps the same trusted root and the same signatures.`,
		Example: `  # What docker-compose.yml's seeder runs
  aspm demo seed --registry registry:5000 --plain-http --trust-dir /var/lib/aspm/trust \
    --nats-url nats://nats:4222 --token-dir /var/lib/aspm/tokens \
    --store clickhouse --clickhouse-addr clickhouse:9000 --dashboard-url http://localhost:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.registry == "" || cfg.trustDir == "" {
				return fmt.Errorf("%w: --registry and --trust-dir are required", errUsage)
			}
			if cfg.tokenDir != "" {
				if err := cfg.store.Validate(); err != nil {
					return fmt.Errorf("%w: %w", errUsage, err)
				}
			}
			return seedDemo(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.registry, "registry", "", "HOST:PORT of the registry to push to, as the services reach it")
	f.BoolVar(&cfg.plainHTTP, "plain-http", false, "reach the registry over plain HTTP (give ingest --insecure-registry too)")
	f.StringVar(&cfg.trustDir, "trust-dir", "", "directory for the demo's trusted root, public key and deployments")
	f.StringVar(&cfg.natsURL, "nats-url", "", "NATS server URL to publish the demo deployments to (default: publish none)")
	f.StringVar(&cfg.tokenDir, "token-dir", "", "directory for the demo's API tokens (default: make none)")
	f.StringVar(&cfg.dashboard, "dashboard-url", "", "the API's URL as a browser reaches it, printed with the demo token")
	gfs := flag.NewFlagSet("store", flag.ContinueOnError)
	backend.RegisterFlags(gfs, &cfg.store)
	f.AddGoFlagSet(gfs)
	return cmd
}

// seedDemo seeds the registry (unless already seeded), publishes the deployments and makes the
// tokens cfg asks for.
func seedDemo(ctx context.Context, cfg seedConfig, out io.Writer) error {
	rc := oci.Config{}
	if cfg.plainHTTP {
		rc.Insecure = []string{cfg.registry}
	}
	client, err := oci.New(rc)
	if err != nil {
		return err
	}
	deps, err := seededDeployments(ctx, client, cfg)
	if err != nil {
		return err
	}
	if deps != nil {
		fmt.Fprintf(out, "Demo already seeded in %s (trusted root %s)\n", cfg.registry, filepath.Join(cfg.trustDir, seedRootFile))
	} else if deps, err = seedRegistry(ctx, client, cfg, out); err != nil {
		return err
	}
	if cfg.natsURL != "" {
		if err := publishDeployments(ctx, bus.Config{URL: cfg.natsURL}, deps); err != nil {
			return err
		}
		fmt.Fprintf(out, "Published %d demo deployments to %s\n", len(deps), cfg.natsURL)
	}
	if cfg.tokenDir == "" {
		return nil
	}
	return seedTokens(ctx, cfg, out)
}

// seededDeployments returns the deployments of a demo seeded before into cfg.trustDir when the
// registry still holds its artifacts at the same digests, or nil.
func seededDeployments(ctx context.Context, client *oci.Client, cfg seedConfig) ([]evidence.Deployment, error) {
	raw, err := os.ReadFile(filepath.Join(cfg.trustDir, seedWorldFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the seeded demo: %w", err)
	}
	var deps []evidence.Deployment
	if err := json.Unmarshal(raw, &deps); err != nil {
		return nil, fmt.Errorf("reading the seeded demo: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.trustDir, seedRootFile)); err != nil {
		return nil, nil
	}
	for _, d := range deps {
		if !strings.HasPrefix(d.Image.Repository, cfg.registry+"/") {
			return nil, nil
		}
		got, err := client.Resolve(ctx, d.Image.Repository+":v1")
		if err != nil || got.Digest != d.Image.Digest {
			return nil, nil // the registry lost it: seed again
		}
	}
	if len(deps) == 0 {
		return nil, nil
	}
	return deps, nil
}

// seedRegistry pushes the demo to the registry and writes its trusted material and
// deployments to cfg.trustDir, the deployments last as the mark of a complete seeding.
func seedRegistry(ctx context.Context, client *oci.Client, cfg seedConfig, out io.Writer) ([]evidence.Deployment, error) {
	if err := os.MkdirAll(cfg.trustDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the trust directory: %w", err)
	}
	// A half-written earlier seeding must not pass for a complete one.
	if err := os.Remove(filepath.Join(cfg.trustDir, seedWorldFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old demo: %w", err)
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		return nil, err
	}
	world, err := demo.Seed(ctx, client, cfg.registry, ss)
	if err != nil {
		return nil, fmt.Errorf("seeding %s: %w", cfg.registry, err)
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		return nil, err
	}
	keyPEM, err := ss.PublicKeyPEM()
	if err != nil {
		return nil, err
	}
	deps, err := json.MarshalIndent(world.Deployments, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the demo deployments: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{seedRootFile, rootJSON}, {demo.KeyName + ".pub", keyPEM}, {seedWorldFile, deps}} {
		if err := os.WriteFile(filepath.Join(cfg.trustDir, f.name), f.data, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	artifacts := map[string]bool{}
	for _, d := range world.Deployments {
		artifacts[d.Image.String()] = true
	}
	fmt.Fprintf(out, "Seeded %s: %d signed demo artifacts in %d deployments; trust %s and %s (key name %s)\n",
		cfg.registry, len(artifacts), len(world.Deployments), filepath.Join(cfg.trustDir, seedRootFile),
		filepath.Join(cfg.trustDir, demo.KeyName+".pub"), demo.KeyName)
	return world.Deployments, nil
}

// publishDeployments announces deps as observed now, as an inventory would.
func publishDeployments(ctx context.Context, bc bus.Config, deps []evidence.Deployment) error {
	b, err := bus.Connect(ctx, bc)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, d := range deps {
		d.ObservedAt = now
		if err := b.Publish(ctx, event.SubjectDeployObserved, event.NewDeployObserved(d)); err != nil {
			return err
		}
	}
	return nil
}

// seedTokens makes an admin token when the store has none and the demo's read token, each saved
// in cfg.tokenDir and reused while the store still accepts it.
func seedTokens(ctx context.Context, cfg seedConfig, out io.Writer) error {
	if err := os.MkdirAll(cfg.tokenDir, 0o700); err != nil {
		return fmt.Errorf("creating the token directory: %w", err)
	}
	st, err := backend.Open(ctx, cfg.store)
	if err != nil {
		return err
	}
	defer st.Close()
	toks, err := st.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("listing tokens: %w", err)
	}
	if len(toks) == 0 {
		if _, err := seedToken(ctx, st, cfg.tokenDir, seedAdminToken, func() (string, auth.Token, error) {
			return auth.New("bootstrap admin", []auth.Scope{auth.ScopeAdmin}, "*", nil, nil, 0, time.Now())
		}); err != nil {
			return err
		}
		fmt.Fprintf(out, "No API tokens existed: made an admin token for every org, saved in %s (keep it secret)\n",
			filepath.Join(cfg.tokenDir, seedAdminToken))
	}
	secret, err := seedToken(ctx, st, cfg.tokenDir, seedDemoToken, func() (string, auth.Token, error) {
		return auth.New("demo (read-only)", []auth.Scope{auth.ScopeRead}, demo.Org, nil, nil, 0, time.Now())
	})
	if err != nil {
		return err
	}
	if cfg.dashboard != "" {
		url := strings.TrimRight(cfg.dashboard, "/")
		fmt.Fprintf(out, "Dashboard: %s/#token=%s\nAPI:       %s/v1/coverage (Authorization: Bearer <the token>)\n", url, secret, url)
	}
	fmt.Fprintf(out, "Demo token (read-only, org %s) saved in %s\n", demo.Org, filepath.Join(cfg.tokenDir, seedDemoToken))
	return nil
}

// seedToken returns the secret saved in dir/name when st still accepts it, or makes one with
// mk, stores it and saves it (mode 0600).
func seedToken(ctx context.Context, st auth.Store, dir, name string, mk func() (string, auth.Token, error)) (string, error) {
	path := filepath.Join(dir, name)
	if raw, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(raw))
		if _, err := auth.Authenticate(ctx, st, "Bearer "+s, time.Now()); err == nil {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	s, tok, err := mk()
	if err != nil {
		return "", err
	}
	if err := st.PutToken(ctx, tok); err != nil {
		return "", fmt.Errorf("storing token: %w", err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("saving token: %w", err)
	}
	return s, nil
}
