package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/store/clickhouse"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/services/api"
	"github.com/aspmhq/aspm/services/api/loadtest"
)

// envLoad enables TestLoadClickHouse; envLoadDuration sets how long each phase runs
// (a Go duration, default 20s).
const (
	envLoad         = "ASPM_LOAD_CLICKHOUSE"
	envLoadDuration = "ASPM_LOAD_DURATION"
	loadDatabase    = "aspm_bench" // shared with BenchmarkEndpointsClickHouse: loaded once
)

// TestLoadClickHouse is the API's load test: the read endpoints (coverage, trend, gaps,
// components) on ClickHouse holding clickhousetest.BenchSynth (1,000,000 scores), driven over
// loopback by many concurrent clients for a bounded time. First with a rate limit out of the
// way (what the API sustains: p50, p99, requests/s), then with a per-token limit of half that
// and four times the clients (the API sheds the excess with 429: no 5xx, no failed request,
// bounded latency). It logs both reports as JSON; it is a measurement, not part of
// make test, and runs only with ASPM_LOAD_CLICKHOUSE=1.
func TestLoadClickHouse(t *testing.T) {
	if os.Getenv(envLoad) == "" {
		t.Skipf("set %s=1 to run (the first run loads 11M rows into ClickHouse database %s)", envLoad, loadDatabase)
	}
	dur := 20 * time.Second
	if v := os.Getenv(envLoadDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", envLoadDuration, err)
		}
		dur = d
	}
	ctx := t.Context()
	synth := clickhousetest.BenchSynth
	st, stats, err := clickhousetest.Load(ctx, clickhouse.Config{Addr: []string{clickhousetest.Addr(t)}, Database: loadDatabase}, synth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t.Logf("data set %s: reused %v, %s; rows %v", loadDatabase, stats.Reused, stats.Took.Round(time.Second), stats.Rows)
	secret, tok, err := auth.New("load", []auth.Scope{auth.ScopeRead}, "*", nil, nil, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}

	end := synth.End()
	lib := synth.Component(1234, 5)
	targets := []loadtest.Target{
		{Name: "coverage/all", Path: "/v1/coverage"},
		{Name: "coverage/org+env", Path: "/v1/coverage", Query: url.Values{"org": {"org-3"}, "env": {"prod"}}},
		{Name: "trend/30d/by-team", Path: "/v1/coverage/trend", Query: url.Values{"by": {"team"},
			"from": {end.AddDate(0, 0, -29).Format(time.DateOnly)}, "to": {end.Format(time.DateOnly)}}},
		{Name: "trend/365d/by-org", Path: "/v1/coverage/trend", Query: url.Values{"by": {"org"},
			"from": {end.AddDate(0, 0, -364).Format(time.DateOnly)}, "to": {end.Format(time.DateOnly)}}},
		{Name: "gaps/open", Path: "/v1/gaps"},
		{Name: "gaps/env", Path: "/v1/gaps", Query: url.Values{"env": {"prod"}}},
		{Name: "components/purl", Path: "/v1/components", Query: url.Values{"purl": {"pkg:deb/debian/openssl@3.0.7"}}},
		{Name: "components/name-lib", Path: "/v1/components", Query: url.Values{"name": {lib.Name}}},
	}
	phase := func(name string, cfg api.Config, clients int) loadtest.Report {
		t.Helper()
		cfg.Bus = bus.Config{URL: "nats://unused"}
		svc, err := api.New(cfg, api.Deps{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(svc.Handler(nil))
		defer srv.Close()
		rep, err := loadtest.Run(ctx, loadtest.Config{BaseURL: srv.URL, Token: secret, Targets: targets, Clients: clients, Duration: dur})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.MarshalIndent(rep, "", "  ")
		t.Logf("%s (rate limit %v/s, burst %v, %d clients, %s):\n%s", name, cfg.RateLimit, cfg.RateBurst, clients, dur, out)
		if n := rep.ServerErrors(); n > 0 || rep.All.Status["error"] > 0 {
			t.Errorf("%s: %d server errors, %d failed requests (%v): the API must shed load, not fail", name, n, rep.All.Status["error"], rep.Errors)
		}
		if rep.All.MaxMs > 30_000 {
			t.Errorf("%s: a request took %.0f ms: latency must stay bounded", name, rep.All.MaxMs)
		}
		return rep
	}
	capacity := phase("capacity", api.Config{RateLimit: 1e6, RateBurst: 1e6}, 16)
	if capacity.Served.Requests != capacity.All.Requests {
		t.Errorf("capacity: statuses %v, want only 200", capacity.All.Status)
	}
	// A per-token limit below what the API just sustained (the default is 50/s, burst 100),
	// and four times the clients: the excess must be shed with 429.
	limit := max(1, capacity.Served.RequestsPerSecond/2)
	shed := phase("shedding", api.Config{RateLimit: limit, RateBurst: max(1, int(limit))}, 64)
	if shed.Shed.Requests == 0 || shed.Served.Requests == 0 {
		t.Errorf("shedding: served %d, shed %d: want both", shed.Served.Requests, shed.Shed.Requests)
	}
}
