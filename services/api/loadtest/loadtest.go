// Package loadtest is a small HTTP load generator for the API's read endpoints: many
// concurrent clients, each sending one request after another (a closed loop) for a bounded
// time, and a report of latency percentiles, requests per second and status codes — enough to
// show what the API sustains and that, past a token's rate limit, it sheds load with 429
// rather than failing.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Target is one request the clients send: GET Path?Query.
type Target struct {
	Name  string
	Path  string
	Query url.Values
}

// Config configures a load run.
type Config struct {
	// BaseURL is the API's address, e.g. http://127.0.0.1:8080; required.
	BaseURL string
	// Token is sent as a bearer token; all clients share it, so they share its rate limit.
	Token string
	// Targets are sent round-robin by each client, starting at different ones; required.
	Targets []Target
	// Clients is how many requests are in flight at once; default 32.
	Clients int
	// Duration is how long clients start new requests; default 10s. Requests in flight then
	// are waited for (up to Timeout) and counted.
	Duration time.Duration
	// Timeout bounds each request; default 10s. A request that times out counts as an error.
	Timeout time.Duration
}

func (c *Config) defaults() error {
	if c.BaseURL == "" || len(c.Targets) == 0 {
		return errors.New("loadtest: a base URL and at least one target are required")
	}
	if c.Clients == 0 {
		c.Clients = 32
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Clients < 0 || c.Duration < 0 || c.Timeout < 0 {
		return errors.New("loadtest: clients, duration and timeout must be positive")
	}
	return nil
}

// Stats summarise a set of requests.
type Stats struct {
	Requests          int     `json:"requests"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	// Status counts responses by HTTP status code, and requests that got no response as
	// "error".
	Status map[string]int `json:"status"`
}

// Report is what a run measured: over all requests, over those answered 200 (served) and
// 429 (shed), and per target.
type Report struct {
	Clients  int              `json:"clients"`
	Seconds  float64          `json:"seconds"`
	All      Stats            `json:"all"`
	Served   Stats            `json:"served"`
	Shed     Stats            `json:"shed"`
	ByTarget map[string]Stats `json:"by_target"`
	// Errors are up to ten distinct transport errors, for the record.
	Errors []string `json:"errors,omitempty"`
	// Bodies holds, for each status other than 200, the start of one response's body.
	Bodies map[string]string `json:"bodies,omitempty"`
}

// ServerErrors counts responses with a 5xx status.
func (r Report) ServerErrors() int {
	n := 0
	for code, c := range r.All.Status {
		if len(code) == 3 && code[0] == '5' {
			n += c
		}
	}
	return n
}

type sample struct {
	target  int
	status  int // 0: no response
	latency time.Duration
	body    string // the start of the body of a response other than 200
}

// Run sends requests from cfg.Clients concurrent clients for cfg.Duration (or until ctx is
// done), waits for those in flight, and reports; Report.Seconds includes that wait. It fails only when cfg is unusable; failed requests are counted.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: base URL: %w", err)
	}
	urls := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		u := *base
		u.Path, u.RawQuery = t.Path, t.Query.Encode()
		urls[i] = u.String()
	}
	tr := &http.Transport{MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}

	deadline := time.Now().Add(cfg.Duration)
	var (
		mu      sync.Mutex
		all     []sample
		errSeen = map[string]bool{}
		wg      sync.WaitGroup
	)
	start := time.Now()
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []sample
			var errs []string
			for i := c; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				t := i % len(urls)
				s, err := get(ctx, client, urls[t], cfg.Token)
				if err != nil && ctx.Err() != nil {
					break // cancelled: not a failure of the API
				}
				s.target = t
				mine = append(mine, s)
				if err != nil {
					errs = append(errs, err.Error())
				}
			}
			mu.Lock()
			all = append(all, mine...)
			for _, e := range errs {
				if len(errSeen) < 10 {
					errSeen[e] = true
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()

	rep := Report{Clients: cfg.Clients, Seconds: secs, ByTarget: map[string]Stats{}}
	rep.All = summarise(all, secs, func(sample) bool { return true })
	rep.Served = summarise(all, secs, func(s sample) bool { return s.status == http.StatusOK })
	rep.Shed = summarise(all, secs, func(s sample) bool { return s.status == http.StatusTooManyRequests })
	for i, t := range cfg.Targets {
		name := t.Name
		if name == "" {
			name = t.Path
		}
		rep.ByTarget[name] = summarise(all, secs, func(s sample) bool { return s.target == i })
	}
	for _, s := range all {
		if code := strconv.Itoa(s.status); s.status != 0 && s.status != http.StatusOK && rep.Bodies[code] == "" {
			if rep.Bodies == nil {
				rep.Bodies = map[string]string{}
			}
			rep.Bodies[code] = s.body
		}
	}
	for e := range errSeen {
		rep.Errors = append(rep.Errors, e)
	}
	slices.Sort(rep.Errors)
	return rep, nil
}

func get(ctx context.Context, client *http.Client, u, token string) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return sample{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return sample{latency: time.Since(start)}, err
	}
	var head []byte
	if resp.StatusCode != http.StatusOK {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 300))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s := sample{status: resp.StatusCode, latency: time.Since(start), body: string(head)}
	if err != nil {
		s.status = 0
	}
	return s, err
}

func summarise(all []sample, secs float64, keep func(sample) bool) Stats {
	st := Stats{Status: map[string]int{}}
	var lat []time.Duration
	for _, s := range all {
		if !keep(s) {
			continue
		}
		lat = append(lat, s.latency)
		code := "error"
		if s.status != 0 {
			code = strconv.Itoa(s.status)
		}
		st.Status[code]++
	}
	st.Requests = len(lat)
	if len(lat) == 0 {
		return st
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	st.RequestsPerSecond = float64(len(lat)) / secs
	st.P50Ms = ms(lat[len(lat)/2])
	st.P99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
	st.MaxMs = ms(lat[len(lat)-1])
	return st
}
