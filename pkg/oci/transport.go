package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// ErrInsecureRefused is returned for a plain-HTTP request to a registry the configuration does
// not mark insecure: TLS is on by default, loopback included.
var ErrInsecureRefused = errors.New("plain HTTP refused")

// guard is the transport under every registry request: it refuses plain HTTP to registries
// not marked insecure, and bounds each registry host's concurrent requests and request rate.
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	maxConc  int
	rps      float64
	burst    int

	mu    sync.Mutex
	hosts map[string]*hostLimit
}

type hostLimit struct {
	sem     chan struct{}
	limiter *rate.Limiter
}

func newGuard(c Config) *guard {
	g := &guard{base: c.Transport, insecure: map[string]bool{}, maxConc: c.MaxConcurrency, rps: c.RateLimit, burst: max(1, int(c.RateLimit)), hosts: map[string]*hostLimit{}}
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
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		<-h.sem
		return nil, err
	}
	// Hold the slot until the body is read: a download is work for the registry too.
	resp.Body = &releaseOnClose{ReadCloser: resp.Body, release: func() { <-h.sem }}
	return resp, nil
}

type releaseOnClose struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}
