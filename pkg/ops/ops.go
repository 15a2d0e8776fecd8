// Package ops serves the operational endpoints every service has: /healthz (the process is
// up), /readyz (its dependencies answer) and /metrics (Prometheus).
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports whether a service can do its work; a non-nil error says what is missing.
type ReadyFunc func(ctx context.Context) error

// Register adds /healthz, /readyz and /metrics to mux. /metrics serves g together with the Go
// runtime and process metrics, which services therefore do not register themselves.
func Register(mux *http.ServeMux, ready ReadyFunc, g prometheus.Gatherer) {
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g = prometheus.Gatherers{runtime, g}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok", "")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, "not ready", err.Error())
			return
		}
		writeStatus(w, http.StatusOK, "ready", "")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

func writeStatus(w http.ResponseWriter, code int, status, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Reason string `json:"reason,omitempty"`
	}{status, reason})
}

// Handler returns a mux with only the operational endpoints.
func Handler(ready ReadyFunc, g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	Register(mux, ready, g)
	return mux
}

// Serve listens on addr and serves h until ctx is done, then shuts down gracefully. When
// started is not nil it receives the bound address (useful with port 0) once listening.
func Serve(ctx context.Context, addr string, h http.Handler, started chan<- string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ServeListener(ctx, l, h, started)
}

// ServeListener is Serve on an existing listener.
func ServeListener(ctx context.Context, l net.Listener, h http.Handler, started chan<- string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if started != nil {
		started <- l.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP on %s: %w", l.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// Connections still busy after the grace period are cut.
			_ = srv.Close()
			if !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("shutting down HTTP server: %w", err)
			}
		}
		return nil
	}
}
