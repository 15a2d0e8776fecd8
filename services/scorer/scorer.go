// Package scorer is the service that evaluates the Rego policy for each collected evidence set
// and every environment the artifact is deployed to, and the only one that writes the store. It
// acks a message only after the write is durable, and announces scores and gap transitions.
package scorer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/ops"
	"github.com/aspmhq/aspm/pkg/policy"
	"github.com/aspmhq/aspm/pkg/store"
)

// Config configures the scorer.
type Config struct {
	Bus bus.Config
	// PolicyPath, when set, is the policy directory or bundle Deps.Policy was loaded from; it
	// is reloaded every PolicyReloadInterval (default 5s) when its files change.
	PolicyPath           string
	PolicyReloadInterval time.Duration
	// Listen is the address of the /healthz, /readyz and /metrics endpoints; empty disables them.
	Listen string
	// RollupInterval is how often today's coverage roll-up is refreshed when scores changed
	// (default 1m); it is refreshed every 15 minutes regardless.
	RollupInterval time.Duration
	// VSA configures the verification summary attestations issued for passing artifacts;
	// off without a key.
	VSA VSAConfig
	// Workers is how many messages are scored at once, as replicas would; default 1.
	Workers int
	// WriteBatch is how many evaluations of concurrent workers are written to the store at
	// once at most (store.GroupCommit); default store.DefaultGroupCommit.
	WriteBatch int
	// MinBackoff and MaxBackoff bound the delay before a message that failed (the store is
	// down, say) is retried; it doubles with each attempt, jittered; default 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// Validate fills in defaults and reports whether c is usable.
func (c *Config) Validate() error {
	if c.PolicyReloadInterval == 0 {
		c.PolicyReloadInterval = 5 * time.Second
	}
	if c.RollupInterval == 0 {
		c.RollupInterval = time.Minute
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		return fmt.Errorf("scorer: back-off %v to %v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	}
	if err := c.VSA.validate(); err != nil {
		return err
	}
	return c.Bus.Validate()
}

// Deps are what the scorer works with: the store it writes and the prepared policy.
type Deps struct {
	Store  store.Store
	Policy *policy.Engine
	Logger *slog.Logger
}

// Service is a running scorer.
type Service struct {
	cfg      Config
	store    store.Store
	policy   atomic.Pointer[policy.Engine]
	log      *slog.Logger
	bus      *bus.Bus
	registry *prometheus.Registry
	metrics  metrics
	docs     docSet
	// dirty is set when an evaluation was written since the last coverage roll-up.
	dirty atomic.Bool
	vsa   *vsaIssuer
	fault storeFault
	queue *bus.QueueMetrics
}

// storeFault remembers the last failed store write, so that the scorer reports not-ready while
// writes fail even when the store answers pings (full disk, read-only table, …).
type storeFault struct {
	mu    sync.Mutex
	err   error
	since time.Time // first failure of the current run of failures
	last  time.Time // latest failure
}

func (f *storeFault) failed(err error, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.since = now
	}
	f.err, f.last = err, now
}

func (f *storeFault) ok() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = nil
}

// current returns the failure when one happened within window of now: failing messages are
// retried within the maximum back-off, so a failure older than that means the store recovered
// and nothing has been written since.
func (f *storeFault) current(now time.Time, window time.Duration) (since time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || now.Sub(f.last) > window {
		return time.Time{}, nil
	}
	return f.since, f.err
}

type metrics struct {
	messages *prometheus.CounterVec
	evalTime prometheus.Histogram
	writes   prometheus.Histogram
	levels   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	rollups  prometheus.Counter
	// storeErrors counts failed store writes; storeUp is 0 while they fail.
	storeErrors prometheus.Counter
	storeUp     prometheus.Gauge
}

// New builds the scorer; it connects to nothing yet.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Policy == nil {
		return nil, errors.New("scorer: a store and a policy are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The workers' evaluations and gap events go to the store in batches: one round trip (one
	// ClickHouse insert per table, one SQLite transaction) for many messages.
	s := &Service{cfg: cfg, store: store.NewGroupCommit(deps.Store, cfg.WriteBatch), log: log, registry: prometheus.NewRegistry()}
	s.policy.Store(deps.Policy)
	s.metrics = metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_scorer_messages_total", Help: "Messages handled, by outcome (ok, retry, dead).",
		}, []string{"outcome"}),
		evalTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aspm_scorer_evaluation_seconds", Help: "Time to evaluate the policy for one artifact and environment.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aspm_scorer_store_write_seconds", Help: "Time to write one evaluation to the store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		levels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aspm_scorer_scores_total", Help: "Scores computed, by SLSA level.",
		}, []string{"level"}),
	}
	s.metrics.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aspm_scorer_policy_reloads_total", Help: "Policy changes loaded or rejected.",
	}, []string{"result"})
	s.metrics.rollups = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aspm_scorer_coverage_rollups_total", Help: "Daily coverage roll-ups written.",
	})
	s.metrics.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aspm_scorer_store_write_errors_total", Help: "Store writes that failed (the message is retried).",
	})
	s.metrics.storeUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "aspm_scorer_store_up", Help: "1 when the last store write succeeded, 0 while writes fail.",
	})
	s.metrics.storeUp.Set(1)
	s.queue = bus.NewQueueMetrics(bus.QueueMetricsConfig{Consumers: []string{bus.ConsumerScorer}})
	s.registry.MustRegister(s.queue)
	s.registry.MustRegister(s.metrics.messages, s.metrics.evalTime, s.metrics.writes, s.metrics.levels, s.metrics.reloads,
		s.metrics.rollups, s.metrics.storeErrors, s.metrics.storeUp)
	vi, err := newVSAIssuer(cfg.VSA, s.registry)
	if err != nil {
		return nil, err
	}
	s.vsa = vi
	return s, nil
}

// Gatherer returns the service's Prometheus metrics.
func (s *Service) Gatherer() prometheus.Gatherer { return s.registry }

// Ready reports whether NATS is connected, the store answers and store writes are not failing
// (a write failed within the maximum back-off, and none succeeded since).
func (s *Service) Ready(ctx context.Context) error {
	if s.bus == nil || !s.bus.Connected() {
		return errors.New("not connected to NATS")
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	now := time.Now()
	if since, err := s.fault.current(now, s.cfg.MaxBackoff+5*time.Second); err != nil {
		return fmt.Errorf("store: writes failing for %s: %w", now.Sub(since).Round(time.Second), err)
	}
	return nil
}

// storeWrite records the outcome of a store write for Ready and the metrics, and returns err.
func (s *Service) storeWrite(err error) error {
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.fault.failed(err, time.Now())
			s.metrics.storeErrors.Inc()
			s.metrics.storeUp.Set(0)
		}
		return err
	}
	s.fault.ok()
	s.metrics.storeUp.Set(1)
	return nil
}

// Run connects to NATS and scores collected evidence until ctx is done.
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
	g, ctx := errgroup.WithContext(ctx)
	if s.cfg.Listen != "" {
		g.Go(func() error { return ops.Serve(ctx, s.cfg.Listen, ops.Handler(s.Ready, s.registry), nil) })
	}
	s.log.Info("scorer running", "nats", s.cfg.Bus.URL, "policy", s.policy.Load().Version(), "listen", s.cfg.Listen)
	if s.cfg.PolicyPath != "" {
		g.Go(func() error { return s.watchPolicy(ctx) })
	}
	g.Go(func() error { return s.rollup(ctx) })
	g.Go(func() error {
		return b.Consume(ctx, bus.ConsumerScorer, s.handle, bus.ConsumeOptions{
			Logger:     s.log,
			Metrics:    s.queue,
			MinBackoff: s.cfg.MinBackoff,
			MaxBackoff: s.cfg.MaxBackoff,
			Workers:    s.cfg.Workers,
			OnResult: func(_ string, err error, dead bool) {
				o := "ok"
				if dead {
					o = "dead"
				} else if err != nil {
					o = "retry"
				}
				s.metrics.messages.WithLabelValues(o).Inc()
			},
		})
	})
	return g.Wait()
}

func (s *Service) handle(ctx context.Context, msg jetstream.Msg) error {
	var m event.EvidenceCollected
	if err := event.Decode(msg.Data(), event.SchemaEvidenceCollected, &m); err != nil {
		return err
	}
	if err := s.bus.LoadEvidence(ctx, &m); err != nil {
		return err
	}
	deps, err := s.bus.Deployments(ctx, m.Artifact.Image.Digest)
	if err != nil {
		return err
	}
	scores, err := s.Score(ctx, m, deps)
	if err != nil {
		return err
	}
	comps, docs, err := s.components(ctx, m.Artifact)
	if err != nil {
		return err
	}
	start := time.Now()
	ev := store.Evaluation{Evidence: m.Artifact, Deployments: deps, Scores: scores, Components: comps}
	// Until this returns nil the message is not acked: a failure naks it for a retry after
	// the back-off.
	wctx, span := otel.Tracer(tracerName).Start(ctx, "store.write_evaluation",
		trace.WithAttributes(attribute.String("aspm.image", m.Artifact.Image.String()), attribute.Int("aspm.scores", len(scores))))
	err = s.storeWrite(s.store.WriteEvaluation(wctx, ev))
	endSpan(span, err)
	if err != nil {
		return fmt.Errorf("writing evaluation of %s: %w", m.Artifact.Image, err)
	}
	s.metrics.writes.Observe(time.Since(start).Seconds())
	s.docs.add(docs)
	s.dirty.Store(true)
	for _, sc := range scores {
		if err := s.announce(ctx, sc); err != nil {
			return err
		}
		s.metrics.levels.WithLabelValues(sc.Level.String()).Inc()
		bus.MessageLogger(ctx, s.log).Info("scored", "image", sc.Image.String(), "env", sc.Environment, "level", sc.Level.String(),
			"gaps", sc.GapCodes(), "risk", sc.Risk)
	}
	// After the scores are durable and announced: a failed push retries the message, which
	// rewrites the same scores and finds the VSAs already pushed.
	return s.vsa.issue(ctx, bus.MessageLogger(ctx, s.log), m, scores)
}

// Score evaluates the policy for the evidence in m in each environment of deps (the most
// recently observed deployment in an environment gives the org and team). The result is
// deterministic: the same message and policy always yield the same scores and IDs.
func (s *Service) Score(ctx context.Context, m event.EvidenceCollected, deps []evidence.Deployment) ([]evidence.Score, error) {
	byEnv := map[string]evidence.Deployment{}
	for _, d := range deps {
		if cur, ok := byEnv[d.Environment]; !ok || d.ObservedAt.After(cur.ObservedAt) {
			byEnv[d.Environment] = d
		}
	}
	envs := make([]string, 0, len(byEnv))
	for env := range byEnv {
		envs = append(envs, env)
	}
	slices.Sort(envs)
	pol := s.policy.Load() // one policy version for the whole message
	scores := make([]evidence.Score, 0, len(envs))
	for _, env := range envs {
		d := byEnv[env]
		start := time.Now()
		ectx, span := otel.Tracer(tracerName).Start(ctx, "policy.evaluate",
			trace.WithAttributes(attribute.String("aspm.environment", env), attribute.String("aspm.policy_version", pol.Version())))
		dec, err := pol.Evaluate(ectx, policy.Input{Artifact: m.Artifact.Image, Environment: env, Deployment: d, Evidence: m.Artifact.Evidence})
		span.SetAttributes(attribute.Int("aspm.level", int(dec.Level)), attribute.Int("aspm.gaps", len(dec.Gaps)))
		endSpan(span, err)
		if err != nil {
			return nil, fmt.Errorf("evaluating policy for %s in %s: %w", m.Artifact.Image, env, err)
		}
		s.metrics.evalTime.Observe(time.Since(start).Seconds())
		h := sha256.Sum256([]byte(m.ID + "\x00" + env + "\x00" + pol.Version()))
		scores = append(scores, evidence.Score{
			Image:              m.Artifact.Image,
			Environment:        env,
			Org:                d.Org,
			Team:               d.Team,
			Level:              dec.Level,
			Risk:               dec.Risk,
			VerifiedProvenance: dec.VerifiedProvenance,
			Gaps:               dec.Gaps,
			Explanation:        dec.Explanation,
			PolicyVersion:      pol.Version(),
			EvaluationID:       hex.EncodeToString(h[:16]),
			EvaluatedAt:        m.Artifact.CollectedAt.UTC().Truncate(time.Second),
		})
	}
	return scores, nil
}

// tracerName names the tracer of the scorer's spans.
const tracerName = "github.com/aspmhq/aspm/services/scorer"

// endSpan records err, if any, on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// later reports whether decision a was made after score b.
func later(a bus.Decision, b evidence.Score) bool {
	if c := a.EvaluatedAt.Compare(b.EvaluatedAt); c != 0 {
		return c > 0
	}
	return cmp.Compare(a.EvaluationID, b.EvaluationID) > 0
}

// announce publishes the score, then the gaps it opened and closed relative to the last
// decision for its artifact and environment (kept in a KV bucket), and records it as the last
// decision. Redelivery repeats the same message IDs, which JetStream drops; an evaluation older
// than the last decision announces no transitions; two replicas racing retry on the conflict.
func (s *Service) announce(ctx context.Context, sc evidence.Score) error {
	if err := s.bus.Publish(ctx, event.SubjectScoreComputed, event.NewScoreComputed(sc)); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		prev, rev, found, err := s.bus.LastDecision(ctx, sc.Image.Digest, sc.Environment)
		if err != nil {
			return err
		}
		if found && (prev.EvaluationID == sc.EvaluationID || later(prev, sc)) {
			return nil
		}
		opened, closed := transitions(prev.Gaps, sc.Gaps)
		// The store's record first: a crash before the decision is recorded repeats the same
		// transitions on redelivery, which the store and JetStream both de-duplicate.
		if evs := gapEvents(sc, opened, closed); len(evs) > 0 {
			if err := s.storeWrite(s.store.WriteGapEvents(ctx, evs)); err != nil {
				return fmt.Errorf("writing gap events of %s in %s: %w", sc.Image, sc.Environment, err)
			}
		}
		for _, g := range opened {
			if err := s.bus.Publish(ctx, event.SubjectGapOpened, event.NewGapChanged(true, sc, g)); err != nil {
				return err
			}
		}
		for _, g := range closed {
			if err := s.bus.Publish(ctx, event.SubjectGapClosed, event.NewGapChanged(false, sc, g)); err != nil {
				return err
			}
		}
		err = s.bus.PutDecision(ctx, sc.Image.Digest, sc.Environment,
			bus.Decision{EvaluationID: sc.EvaluationID, EvaluatedAt: sc.EvaluatedAt, Level: sc.Level, Gaps: sc.Gaps}, rev)
		if errors.Is(err, bus.ErrConflict) && attempt < 5 {
			continue
		}
		return err
	}
}

// transitions returns the gaps of now that before lacks (opened) and those of before that now
// lacks (closed), by code, each once, in the order of now and of before.
func transitions(before, now []evidence.Gap) (opened, closed []evidence.Gap) {
	had := map[string]bool{}
	for _, g := range before {
		had[g.Code] = true
	}
	has := map[string]bool{}
	for _, g := range now {
		if !has[g.Code] && !had[g.Code] {
			opened = append(opened, g)
		}
		has[g.Code] = true
	}
	gone := map[string]bool{}
	for _, g := range before {
		if !has[g.Code] && !gone[g.Code] {
			closed = append(closed, g)
			gone[g.Code] = true
		}
	}
	return opened, closed
}
