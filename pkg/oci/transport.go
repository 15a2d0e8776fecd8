package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrInsecureRefused is returned for a plain-HTTP request to a registry the configuration does
// not mark insecure: TLS is on by default, loopback included.
var ErrInsecureRefused = errors.New("plain HTTP refused")

// guard is the transport under every registry request: it refuses plain HTTP to registries
// not marked insecure, bounds each registry host's concurrent requests and request rate, and
// bounds each request, its body included, by the configured timeout, so that a registry that
// stops answering fails the request (which go-containerregistry then retries) instead of
// hanging it.
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	maxConc  int
	rps      float64
	burst    int
	timeout  time.Duration
	// failed is set when a request fails or is answered 429 or 5xx (see Client.reuse).
	failed atomic.Bool
	// redirects are the host patterns a registry may redirect to; maxBlob bounds blob bodies.
	redirects []string
	maxBlob   int64

	mu    sync.Mutex
	hosts map[string]*hostLimit
	// plain records when each insecure host was last seen answering TLS with plain HTTP.
	plain map[string]time.Time
}

// errPlainHTTP fails an HTTPS request to an insecure registry that speaks plain HTTP.
var errPlainHTTP = errors.New("the registry answers plain HTTP, not TLS")

// plainMemory is how long an insecure registry seen answering plain HTTP is believed to: its
// HTTPS requests (go-containerregistry's pings) fail at once instead of costing a TLS
// handshake each.
const plainMemory = 10 * time.Minute

// answeredPlain reports whether err says the server answered a TLS handshake in plain HTTP.
func answeredPlain(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

func (g *guard) speaksPlain(host string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.plain[host]
	return ok && time.Since(t) < plainMemory
}

func (g *guard) sawPlain(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.plain == nil {
		g.plain = map[string]time.Time{}
	}
	g.plain[host] = time.Now()
}

type hostLimit struct {
	sem     chan struct{}
	limiter *rate.Limiter
}

func newGuard(c Config) *guard {
	g := &guard{base: c.Transport, insecure: map[string]bool{}, maxConc: c.MaxConcurrency, rps: c.RateLimit, burst: max(1, int(c.RateLimit)), timeout: c.Timeout, hosts: map[string]*hostLimit{},
		redirects: c.AllowRedirects, maxBlob: c.MaxBlobSize}
	for _, h := range c.Insecure {
		g.insecure[h] = true
	}
	return g
}

func (g *guard) limit(host string) *hostLimit {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.hosts[host]
	if !ok {
		h = &hostLimit{sem: make(chan struct{}, g.maxConc)}
		if g.rps > 0 {
			h.limiter = rate.NewLimiter(rate.Limit(g.rps), g.burst)
		}
		g.hosts[host] = h
	}
	return h
}

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !g.insecure[host] {
		return nil, fmt.Errorf("%w to %s: mark the registry insecure (--insecure-registry %s) to allow it", ErrInsecureRefused, host, host)
	}
	if err := g.checkRedirect(req); err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" && g.insecure[host] && g.speaksPlain(host) {
		return nil, fmt.Errorf("%s: %w", host, errPlainHTTP)
	}
	h := g.limit(host)
	ctx := req.Context()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if h.limiter != nil {
		if err := h.limiter.Wait(ctx); err != nil {
			<-h.sem
			return nil, err
		}
	}
	cancel := context.CancelFunc(func() {})
	tctx := ctx
	if g.timeout > 0 {
		tctx, cancel = context.WithTimeout(ctx, g.timeout)
		req = req.WithContext(tctx)
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil && req.URL.Scheme == "https" && g.insecure[host] && answeredPlain(err) {
		// go-containerregistry pings a registry marked insecure over HTTPS and HTTP at once,
		// for every repository; this one speaks plain HTTP, which is no failure of the registry.
		g.sawPlain(host)
		cancel()
		<-h.sem
		return nil, fmt.Errorf("%s: %w", host, errPlainHTTP)
	}
	if err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		g.failed.Store(true)
	}
	if err != nil {
		cancel()
		<-h.sem
		return nil, err
	}
	// Bound what is read (after gzip decoding), and hold the slot until the body is read: a
	// download is work for the registry too.
	resp.Body = newLimitedBody(req, resp, g.bodyLimit(req))
	// The slot is also released when the body has been read to the end, or the request's time
	// is up: go-containerregistry reads the body of a response it retries (a 5xx) and replaces
	// it without closing it, which would otherwise leak the slot until none is left.
	body := &releaseOnClose{ReadCloser: resp.Body, release: func() { cancel(); <-h.sem }}
	context.AfterFunc(tctx, func() { body.once.Do(body.release) })
	resp.Body = body
	return resp, nil
}

type releaseOnClose struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releaseOnClose) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil {
		r.once.Do(r.release)
	}
	return n, err
}

func (r *releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}
