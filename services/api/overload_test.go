package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
)

// slowStore is a real store whose Coverage waits, counting itself in entered, until release
// is closed or the request's context ends: a slow query.
type slowStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (s slowStore) Coverage(ctx context.Context, q store.CoverageQuery) (store.Coverage, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return s.Store.Coverage(ctx, q)
	case <-ctx.Done():
		return store.Coverage{}, ctx.Err()
	}
}

// TestOverloadShedAndQueryTimeout checks that the API serves at most MaxInFlight requests at
// once, turning others away at once with 429 overloaded rather than queueing them, and that a
// query running past QueryTimeout is abandoned with 503; both answers as the OpenAPI document
// says.
func TestOverloadShedAndQueryTimeout(t *testing.T) {
	ctx := context.Background()
	_, b := bustest.Connect(t)
	base, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	slow := slowStore{Store: base, entered: make(chan struct{}, 16), release: make(chan struct{})}
	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, MaxInFlight: 2, QueryTimeout: 2 * time.Second},
		api.Deps{Store: slow})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(b))
	t.Cleanup(srv.Close)
	tok := newToken(t, base, auth.ScopeRead, "acme", nil, nil)
	spec := mustLoadSpec(t)
	get := func() *http.Request {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/coverage", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}

	// Two slow requests take both slots.
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.DefaultClient.Do(get())
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	for range 2 {
		select {
		case <-slow.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow requests did not reach the store")
		}
	}
	// A third is turned away, promptly, with 429 overloaded and Retry-After.
	start := time.Now()
	ex := spec.mustExchange(t, srv.URL, get(), nil)
	if ex.status != http.StatusTooManyRequests || code(t, ex.body) != "overloaded" || ex.header.Get("Retry-After") == "" {
		t.Errorf("third request: %d %s Retry-After %q; want 429 overloaded with Retry-After", ex.status, ex.body, ex.header.Get("Retry-After"))
	}
	if waited := time.Since(start); waited > 1500*time.Millisecond {
		t.Errorf("the third request waited %s to be turned away", waited)
	}
	// The health checks stay outside the bound.
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz while overloaded: %v %v", resp, err)
	}
	// Released, the two finish, and the slots are free again.
	close(slow.release)
	for range 2 {
		if status := <-done; status != http.StatusOK {
			t.Errorf("a slow request: status %d, want 200", status)
		}
	}
	if ex := spec.mustExchange(t, srv.URL, get(), nil); ex.status != http.StatusOK {
		t.Errorf("after the release: %d %s", ex.status, ex.body)
	}

	// A query that runs past the timeout is abandoned with 503.
	stuck := slowStore{Store: base, entered: make(chan struct{}, 16), release: make(chan struct{})}
	svc2, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, QueryTimeout: 300 * time.Millisecond},
		api.Deps{Store: stuck})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(svc2.Handler(b))
	t.Cleanup(srv2.Close)
	req, _ := http.NewRequest("GET", srv2.URL+"/v1/coverage", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ex = spec.mustExchange(t, srv2.URL, req, nil)
	if ex.status != http.StatusServiceUnavailable || code(t, ex.body) != "unavailable" || !strings.Contains(string(ex.body), "query timeout") {
		t.Errorf("a query past the timeout: %d %s; want 503 unavailable naming the query timeout", ex.status, ex.body)
	}
}

func code(t *testing.T, body []byte) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return errCode(v)
}
