// Package bench is aspm's performance harness: it seeds an in-process registry with signed
// artifacts, runs the ingest and scorer services on embedded NATS and the chosen store until
// every artifact is scored, and measures the pipeline against sigstore-go's own verification
// of the same bundles.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
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
	"github.com/aspmhq/aspm/policies"
	"github.com/aspmhq/aspm/services/ingest"
	"github.com/aspmhq/aspm/services/scorer"
)

// Config configures one benchmark run.
type Config struct {
	// Artifacts is how many artifacts to seed and score; default 2,000.
	Artifacts int
	// SBOMComponents is the size of each artifact's CycloneDX SBOM; 0 attaches none.
	SBOMComponents int
	// Rescan also times a second collection of the same, unchanged evidence.
	Rescan bool
	// Store is the store the scorer writes; the zero value is SQLite in WorkDir.
	Store backend.Config
	// WorkDir holds NATS's files, the registry's blobs and the bundles; default a temporary
	// directory, removed at the end.
	WorkDir string
	// Org is the organisation of the seeded deployments; default "bench-<random>", so runs
	// against a persistent store do not see each other's artifacts.
	Org string
	// IngestWorkers and ScorerWorkers are how many messages ingest and the scorer handle at
	// once; default 16 and 64 (the pipeline waits on the registry, NATS and the store more
	// than it computes, and the scorer's concurrent evaluations are written in batches).
	IngestWorkers, ScorerWorkers int
	// SeedWorkers is how many artifacts are signed and pushed at once; default 2 per CPU.
	SeedWorkers int
	// Timeout bounds waiting for the pipeline; default 30 minutes.
	Timeout time.Duration
	// Progress, when set, receives progress lines meant for a person on a terminal.
	Progress io.Writer
	// Logger receives the services' logs; nil discards them.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Artifacts == 0 {
		c.Artifacts = 2000
	}
	if c.Artifacts < 0 || c.SBOMComponents < 0 || c.IngestWorkers < 0 || c.ScorerWorkers < 0 || c.SeedWorkers < 0 || c.Timeout < 0 {
		return errors.New("bench: artifacts, SBOM components, workers and timeout must not be negative")
	}
	if c.IngestWorkers == 0 {
		c.IngestWorkers = 16
	}
	if c.ScorerWorkers == 0 {
		c.ScorerWorkers = 64
	}
	if c.SeedWorkers == 0 {
		c.SeedWorkers = 2 * runtime.NumCPU()
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// Stages are the milliseconds per artifact the pipeline spent in each stage, summed over
// its concurrent workers (so with several workers they may add up to more than the
// wall-clock time per artifact).
type Stages struct {
	Fetch    float64 `json:"fetch"`
	Verify   float64 `json:"verify"`
	Parse    float64 `json:"parse"`
	Publish  float64 `json:"publish"`
	Evaluate float64 `json:"evaluate"`
	Store    float64 `json:"store"`
}

// Result is what a run measured.
type Result struct {
	Artifacts      int    `json:"artifacts"`
	SBOMComponents int    `json:"sbom_components"`
	Store          string `json:"store"`
	CPUs           int    `json:"cpus"`
	IngestWorkers  int    `json:"ingest_workers"`
	ScorerWorkers  int    `json:"scorer_workers"`
	// Scored is how many of the seeded artifacts the store holds a current score for.
	Scored int `json:"scored"`
	// SeedSeconds is the time signing and pushing took (not part of any rate).
	SeedSeconds float64 `json:"seed_seconds"`
	// Seconds is the time from publishing the deployments to the last artifact scored.
	Seconds            float64 `json:"seconds"`
	ArtifactsPerSecond float64 `json:"artifacts_per_second"`
	Stages             Stages  `json:"stages"`
	// SBOMComponentsPerSecond is the components of every SBOM over Seconds.
	SBOMComponentsPerSecond float64 `json:"sbom_components_per_second"`
	// PeakRSSBytes is the process's peak resident set size (getrusage maxrss), seeding and
	// the in-process registry included.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// BareVerifyPerSecond is sigstore-go alone parsing and verifying the same bundles against
	// the same trusted root, on as many goroutines as CPUs; Ratio is ArtifactsPerSecond over it.
	BareVerifyPerSecond float64 `json:"bare_verify_per_second"`
	Ratio               float64 `json:"ratio"`
	// RescanSeconds and RescanCostRatio (RescanSeconds / Seconds) are set with Config.Rescan.
	RescanSeconds   *float64 `json:"rescan_seconds,omitempty"`
	RescanCostRatio *float64 `json:"rescan_cost_ratio,omitempty"`
	RescanStages    *Stages  `json:"rescan_stages,omitempty"`
	// LoadAverage is the system's 1-minute load average when the pipeline started and when
	// it finished (Linux; absent elsewhere): other work on the machine slows every figure.
	LoadAverage []float64 `json:"load_average,omitempty"`
}

// Run seeds the registry, measures bare verification, runs the pipeline until every artifact
// is scored (and, with cfg.Rescan, rescanned and scored again) and returns the measurements.
// It fails when the pipeline does not score every artifact within cfg.Timeout; the result
// then still holds what was measured so far (Scored says how far it got).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	run := randomHex(6)
	if cfg.Org == "" {
		cfg.Org = "bench-" + run
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "aspm-bench-*")
		if err != nil {
			return nil, fmt.Errorf("creating work directory: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
	}
	for _, d := range []string{"registry", "bundles", "nats"} {
		if err := os.MkdirAll(filepath.Join(cfg.WorkDir, d), 0o750); err != nil {
			return nil, fmt.Errorf("creating work directory: %w", err)
		}
	}
	if cfg.Store.Driver == "" {
		cfg.Store = backend.Config{Driver: backend.SQLite, SQLitePath: filepath.Join(cfg.WorkDir, "aspm.db")}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	defer func() { cancel(); _ = g.Wait() }()

	// The registry, keeping blobs on disk so that they do not count in the process's memory.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	g.Go(func() error {
		return ops.ServeListener(ctx, l, oci.NewDiskRegistryHandler(filepath.Join(cfg.WorkDir, "registry")), nil)
	})
	host := l.Addr().String()
	// The benchmark measures the pipeline, not politeness to a registry: no rate limit.
	regCfg := oci.Config{Insecure: []string{host}, RateLimit: -1, MaxConcurrency: 64}
	client, err := oci.New(regCfg)
	if err != nil {
		return nil, err
	}
	ss, err := demo.NewSigstore()
	if err != nil {
		return nil, err
	}
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		return nil, err
	}
	rootPath := filepath.Join(cfg.WorkDir, "trusted_root.json")
	if err := os.WriteFile(rootPath, rootJSON, 0o600); err != nil {
		return nil, fmt.Errorf("writing trusted root: %w", err)
	}

	res := &Result{Artifacts: cfg.Artifacts, SBOMComponents: cfg.SBOMComponents, Store: cfg.Store.Driver, CPUs: runtime.GOMAXPROCS(0),
		IngestWorkers: cfg.IngestWorkers, ScorerWorkers: cfg.ScorerWorkers}
	start := time.Now()
	arts, err := seed(ctx, cfg, client, ss, host, run, filepath.Join(cfg.WorkDir, "bundles"), func(done int) {
		if done%100 == 0 || done == cfg.Artifacts {
			fmt.Fprintf(cfg.Progress, "\r\033[Kseeding %d/%d", done, cfg.Artifacts)
		}
	})
	fmt.Fprintln(cfg.Progress)
	if err != nil {
		return nil, err
	}
	res.SeedSeconds = time.Since(start).Seconds()

	fmt.Fprintf(cfg.Progress, "verifying %d bundles with sigstore-go alone\n", len(arts))
	if res.BareVerifyPerSecond, err = bareVerify(ctx, ss, arts); err != nil {
		return nil, err
	}

	err = pipeline(ctx, cfg, regCfg, rootPath, arts, res)
	res.PeakRSSBytes = peakRSS()
	return res, err
}

// pipeline runs ingest and the scorer on embedded NATS and the store, publishes the
// deployments, waits until every artifact is scored, and fills res.
func pipeline(ctx context.Context, cfg Config, regCfg oci.Config, rootPath string, arts []seeded, res *Result) error {
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: filepath.Join(cfg.WorkDir, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	st, err := backend.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer st.Close()
	pol, err := policy.Load(ctx, policies.FS)
	if err != nil {
		return err
	}
	busCfg := bus.Config{URL: ns.ClientURL()}
	ing, err := ingest.New(ingest.Config{Bus: busCfg, TrustedRoots: []string{"bench=" + rootPath}, Registry: regCfg, Workers: cfg.IngestWorkers},
		ingest.Deps{Logger: cfg.Logger.With("service", "ingest")})
	if err != nil {
		return err
	}
	sc, err := scorer.New(scorer.Config{Bus: busCfg, Workers: cfg.ScorerWorkers}, scorer.Deps{Store: st, Policy: pol, Logger: cfg.Logger.With("service", "scorer")})
	if err != nil {
		return err
	}
	svcCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 2)
	go func() { done <- ing.Run(svcCtx) }()
	go func() { done <- sc.Run(svcCtx) }()
	defer func() {
		stop()
		<-done
		<-done
	}()
	b, err := bus.Connect(ctx, busCfg)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		return err
	}
	gatherers := prometheus.Gatherers{ing.Gatherer(), sc.Gatherer()}
	waitCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	fmt.Fprintf(cfg.Progress, "collecting, verifying and scoring %d artifacts on %s\n", len(arts), cfg.Store.Driver)
	res.LoadAverage = appendLoad(res.LoadAverage)
	start := time.Now()
	for _, a := range arts {
		if err := b.Publish(waitCtx, event.SubjectDeployObserved, event.NewDeployObserved(a.deployment)); err != nil {
			return err
		}
	}
	n, werr := waitScored(waitCtx, gatherers, len(arts), cfg.Progress)
	// On a timeout, what was done so far is reported with the error.
	res.Seconds = time.Since(start).Seconds()
	res.LoadAverage = appendLoad(res.LoadAverage)
	res.ArtifactsPerSecond = float64(n) / res.Seconds
	res.SBOMComponentsPerSecond = float64(n*cfg.SBOMComponents) / res.Seconds
	if res.BareVerifyPerSecond > 0 {
		res.Ratio = res.ArtifactsPerSecond / res.BareVerifyPerSecond
	}
	first, err := stageSums(gatherers)
	if err != nil {
		return err
	}
	res.Stages = first.perArtifact(n)
	if werr != nil {
		res.Scored = n
		return werr
	}
	if res.Scored, err = scored(ctx, st, cfg.Org, len(arts)); err != nil {
		return err
	}
	if res.Scored != len(arts) {
		return fmt.Errorf("bench: %d of %d artifacts have a current score", res.Scored, len(arts))
	}

	if cfg.Rescan {
		fmt.Fprintf(cfg.Progress, "rescanning %d artifacts\n", len(arts))
		at := time.Now()
		start := time.Now()
		for _, a := range arts {
			if err := b.Publish(waitCtx, event.SubjectScanRequested, event.NewScanRequested(a.deployment.Image, at)); err != nil {
				return err
			}
		}
		// Ingest announces only the rescans that found something new; the scorer scores those.
		changed, err := waitRescanned(waitCtx, gatherers, len(arts), cfg.Progress)
		if err != nil {
			return err
		}
		if _, err := waitScored(waitCtx, gatherers, len(arts)+changed, cfg.Progress); err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		ratio := secs / res.Seconds
		res.RescanSeconds, res.RescanCostRatio = &secs, &ratio
		second, err := stageSums(gatherers)
		if err != nil {
			return err
		}
		rs := second.minus(first).perArtifact(len(arts))
		res.RescanStages = &rs
	}
	return nil
}

// scored counts the seeded artifacts with a current score: every one carries verified SLSA
// provenance, so a scored one is at least L1 and only an unscored one counts as L0.
func scored(ctx context.Context, st store.Reader, org string, n int) (int, error) {
	cov, err := st.Coverage(ctx, store.CoverageQuery{Org: org})
	if err != nil {
		return 0, fmt.Errorf("reading coverage: %w", err)
	}
	if cov.Total != n {
		return 0, fmt.Errorf("bench: the store holds %d deployed artifacts of org %s, want %d", cov.Total, org, n)
	}
	return cov.Total - cov.ByLevel["L0"], nil
}

// waitScored waits until the scorer has handled want evidence messages, and returns how many
// it handled.
func waitScored(ctx context.Context, g prometheus.Gatherer, want int, progress io.Writer) (int, error) {
	ok, last := 0, time.Now()
	err := poll(ctx, g, func(m metrics) (bool, error) {
		ok = int(m.counter("aspm_scorer_messages_total", "outcome", "ok"))
		if dead := m.counter("aspm_scorer_messages_total", "outcome", "dead"); dead > 0 {
			return false, fmt.Errorf("bench: the scorer dead-lettered %v messages", dead)
		}
		if time.Since(last) > time.Second || ok >= want {
			fmt.Fprintf(progress, "\r\033[Kscored %d/%d", ok, want)
			last = time.Now()
		}
		return ok >= want, nil
	})
	fmt.Fprintln(progress)
	if err != nil && ctx.Err() != nil {
		return ok, fmt.Errorf("bench: %d of %d evaluations done when waiting stopped: %w", ok, want, err)
	}
	return ok, err
}

// waitRescanned waits until ingest has handled want rescans, and returns how many of them
// found changed evidence (and were announced for scoring).
func waitRescanned(ctx context.Context, g prometheus.Gatherer, want int, progress io.Writer) (int, error) {
	changed, done := 0, 0
	err := poll(ctx, g, func(m metrics) (bool, error) {
		if dead := m.counter("aspm_ingest_messages_total", "outcome", "dead"); dead > 0 {
			return false, fmt.Errorf("bench: ingest dead-lettered %v messages", dead)
		}
		changed = int(m.counter("aspm_ingest_rescans_total", "result", "changed"))
		done = changed + int(m.counter("aspm_ingest_rescans_total", "result", "unchanged"))
		return done >= want, nil
	})
	if err != nil && ctx.Err() != nil {
		return 0, fmt.Errorf("bench: %d of %d rescans done when waiting stopped: %w", done, want, err)
	}
	if err == nil {
		fmt.Fprintf(progress, "\r\033[Krescanned %d/%d (%d changed)\n", done, want, changed)
	}
	return changed, err
}

// poll reads g's metrics every 50 ms and hands them to step until step reports done or
// fails, or ctx ends (its error is returned then).
func poll(ctx context.Context, g prometheus.Gatherer, step func(metrics) (done bool, err error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := read(g)
		if err != nil {
			return err
		}
		if done, err := step(m); done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// appendLoad appends the 1-minute load average, when the system tells it, to l.
func appendLoad(l []float64) []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	var v float64
	if _, err := fmt.Sscan(string(b), &v); err != nil {
		return l
	}
	return append(l, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
