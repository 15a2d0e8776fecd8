package loadtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/store/backend"
	"github.com/aspmhq/aspm/services/api"
	"github.com/aspmhq/aspm/services/api/loadtest"
)

// readTargets are the API's read endpoints the load test drives.
func readTargets(day time.Time) []loadtest.Target {
	d := day.Format(time.DateOnly)
	return []loadtest.Target{
		{Name: "coverage", Path: "/v1/coverage"},
		{Name: "trend", Path: "/v1/coverage/trend", Query: url.Values{"by": {"team"}, "from": {d}, "to": {d}}},
		{Name: "gaps", Path: "/v1/gaps"},
		{Name: "components", Path: "/v1/components", Query: url.Values{"name": {"openssl"}}},
	}
}

// serve starts the API on an empty SQLite store with the given per-token rate limit and
// returns its URL and a read token.
func serve(t *testing.T, rate float64, burst int) (string, string) {
	t.Helper()
	ctx := context.Background()
	st, err := backend.Open(ctx, backend.Config{Driver: backend.SQLite, SQLitePath: t.TempDir() + "/aspm.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, RateLimit: rate, RateBurst: burst}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(nil))
	t.Cleanup(srv.Close)
	secret, tok, err := auth.New("load", []auth.Scope{auth.ScopeRead}, "*", nil, nil, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return srv.URL, secret
}

// TestRunServes is the smoke version of the load test: with room in the rate limit every
// request is served; with a tight one the excess is shed with 429, and nothing fails.
func TestRunServes(t *testing.T) {
	base, token := serve(t, 1e6, 1e6)
	rep, err := loadtest.Run(t.Context(), loadtest.Config{BaseURL: base, Token: token, Targets: readTargets(time.Now()), Clients: 4, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.All.Requests == 0 || rep.Served.Requests != rep.All.Requests {
		t.Fatalf("served %d of %d requests (status %v, errors %v), want all", rep.Served.Requests, rep.All.Requests, rep.All.Status, rep.Errors)
	}
	for name, st := range rep.ByTarget {
		if st.Requests == 0 || st.Status["200"] != st.Requests {
			t.Errorf("%s: status %v, want only 200", name, st.Status)
		}
	}
	if rep.All.P50Ms <= 0 || rep.All.P99Ms < rep.All.P50Ms || rep.All.MaxMs < rep.All.P99Ms || rep.All.RequestsPerSecond <= 0 {
		t.Errorf("percentiles and rate out of order: %+v", rep.All)
	}
}

func TestRunSheds(t *testing.T) {
	base, token := serve(t, 20, 5)
	rep, err := loadtest.Run(t.Context(), loadtest.Config{BaseURL: base, Token: token, Targets: readTargets(time.Now()), Clients: 8, Duration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Shed.Requests == 0 || rep.Served.Requests == 0 {
		t.Errorf("served %d, shed %d: want both with 8 clients over a 20/s limit", rep.Served.Requests, rep.Shed.Requests)
	}
	// At most the burst plus the rate over the run is served.
	if limit := 5 + int(20*rep.Seconds) + 1; rep.Served.Requests > limit {
		t.Errorf("served %d requests in %.1fs, over the limit of %d", rep.Served.Requests, rep.Seconds, limit)
	}
	if n := rep.ServerErrors(); n > 0 || rep.All.Status["error"] > 0 {
		t.Errorf("%d server errors and %d failed requests (%v), want none", n, rep.All.Status["error"], rep.Errors)
	}
	if got := rep.Served.Requests + rep.Shed.Requests; got != rep.All.Requests {
		t.Errorf("statuses %v: want only 200 and %d", rep.All.Status, http.StatusTooManyRequests)
	}
}
