// Package api is the read side and front door: the REST API, the web dashboard and the
// deployment push endpoint, which publishes to NATS (the api never calls ingest directly).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/ops"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/services/api/internal/dashboard"
	"github.com/aspmhq/aspm/services/api/internal/httpapi"
	"github.com/aspmhq/aspm/services/api/internal/notify"
)

// Config configures the api service.
type Config struct {
	Bus bus.Config
	// Listen is the address the API, dashboard and operational endpoints are served on.
	Listen string
	// MaxBodyBytes bounds request bodies; default 1 MiB.
	MaxBodyBytes int64
	// RateLimit is each token's sustained request rate per second (default 50) and RateBurst
	// the requests it may make at once (default 100); over it a request gets 429.
	RateLimit float64
	RateBurst int
	// MaxInFlight bounds the /v1 requests served at once, across tokens (default 32); a request
	// that finds no free slot within 250 ms gets 429 overloaded. QueryTimeout bounds each
	// request's work (default 30s); one still running then gets 503 unavailable.
	MaxInFlight  int
	QueryTimeout time.Duration
	// NotifyConfig, when set, is the notifier's configuration file (YAML): the api then runs
	// the notifier, which turns gap events into webhooks and tickets.
	NotifyConfig string
}

// Validate fills in defaults and reports whether c is usable.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.RateLimit == 0 {
		c.RateLimit = 50
	}
	if c.RateBurst == 0 {
		c.RateBurst = 100
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 32
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.MaxInFlight < 0 || c.QueryTimeout < 0 {
		return errors.New("api: max-in-flight and query-timeout must be positive")
	}
	if c.MaxBodyBytes < 0 || c.RateLimit < 0 || c.RateBurst < 0 {
		return errors.New("api: max-body-bytes, rate-limit and rate-burst must be positive")
	}
	return c.Bus.Validate()
}

// Deps are what the api works with.
type Deps struct {
	Store  store.Store
	Logger *slog.Logger
	// Gatherers are other services' metrics to serve on /metrics too (for `aspm up`).
	Gatherers []prometheus.Gatherer
}

// Service is a running api.
type Service struct {
	cfg      Config
	store    store.Store
	log      *slog.Logger
	bus      *bus.Bus
	registry *prometheus.Registry
	gather   prometheus.Gatherers
	requests *prometheus.HistogramVec
	queue    *bus.QueueMetrics
	limiter  *auth.Limiter
	gate     *httpapi.Gate
	addr     chan string
	// notifyCfg is the notifier's configuration, nil without one; notifier runs once Run
	// has connected.
	notifyCfg *notify.Config
	notifier  *notify.Notifier
}

// New builds the api; it connects to nothing yet.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("api: a store is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ncfg, err := loadNotifyConfig(cfg.NotifyConfig)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &Service{notifyCfg: ncfg, cfg: cfg, store: deps.Store, log: log, registry: prometheus.NewRegistry(),
		limiter: auth.NewLimiter(cfg.RateLimit, cfg.RateBurst), gate: httpapi.NewGate(cfg.MaxInFlight), addr: make(chan string, 1)}
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aspm_api_request_seconds", Help: "API request latency by route and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	// The api exports the streams' size for the whole deployment, and its notifier's queue.
	qc := bus.QueueMetricsConfig{Streams: []string{bus.StreamEvents, bus.StreamDead}}
	if ncfg != nil {
		qc.Consumers = []string{notify.ConsumerName}
	}
	s.queue = bus.NewQueueMetrics(qc)
	s.registry.MustRegister(s.requests, s.queue)
	s.gather = append(prometheus.Gatherers{s.registry}, deps.Gatherers...)
	return s, nil
}

// Gatherer returns the service's Prometheus metrics.
func (s *Service) Gatherer() prometheus.Gatherer { return s.registry }

// Addr returns the address the service listens on, once it does.
func (s *Service) Addr(ctx context.Context) (string, error) {
	select {
	case a := <-s.addr:
		s.addr <- a
		return a, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Ready reports whether NATS is connected and the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if s.bus == nil || !s.bus.Connected() {
		return errors.New("not connected to NATS")
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Handler returns the full HTTP handler, publishing deployments with pub. Everything under
// /v1/ needs a bearer token; /healthz, /readyz, /metrics, the OpenAPI document at
// /openapi.yaml and the dashboard's static assets (which hold no data: the page calls /v1 with
// the user's token) do not.
func (s *Service) Handler(pub httpapi.Publisher) http.Handler {
	a := &httpapi.API{Store: s.store, Analytics: s.store, Tokens: s.store, Exceptions: s.store, Limiter: s.limiter, Gate: s.gate, QueryTimeout: s.cfg.QueryTimeout, Publisher: pub,
		Log: s.log, MaxBodyBytes: s.cfg.MaxBodyBytes, Now: time.Now, Notifications: s.notifications()}
	v1 := http.NewServeMux()
	a.Register(v1)
	mux := http.NewServeMux()
	ops.Register(mux, s.Ready, s.gather)
	mux.Handle("/v1/", a.Authenticate(v1))
	mux.HandleFunc("GET /openapi.yaml", serveOpenAPI)
	dashboard.Register(mux)
	return httpapi.WithRequestID(s.log, s.instrument(mux, v1))
}

// instrument records each request's latency by route pattern and status.
func (s *Service) instrument(mux, v1 *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rec, r)
		_, pattern := mux.Handler(r)
		if pattern == "/v1/" {
			_, pattern = v1.Handler(r)
		}
		if pattern == "" {
			pattern = "unmatched"
		}
		s.requests.WithLabelValues(pattern, fmt.Sprint(rec.status)).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Run connects to NATS and serves HTTP on cfg.Listen until ctx is done.
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waitNotifier, err := s.startNotifier(ctx, b)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		cancel()
		_ = waitNotifier()
		return fmt.Errorf("api: listening on %s: %w", s.cfg.Listen, err)
	}
	s.log.Info("api listening", "addr", l.Addr().String())
	err = ops.ServeListener(ctx, l, s.Handler(b), s.addr)
	cancel()
	return errors.Join(err, waitNotifier())
}
