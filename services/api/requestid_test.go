package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
)

// lockedBuffer collects log lines written from the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for l := range strings.Lines(b.buf.String()) {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, v)
	}
	return out
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func TestRequestID(t *testing.T) {
	ctx := context.Background()
	_, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs lockedBuffer
	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}}, api.Deps{Store: st, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(b))
	t.Cleanup(srv.Close)
	admin := newToken(t, st, auth.ScopeAdmin, "acme", nil, nil)

	send := func(method, path, id, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var v map[string]any
		_ = json.Unmarshal(raw, &v)
		return resp, v
	}

	// A valid ID is kept, echoed, and in the error body.
	const mine = "ci-run_42.step-7"
	resp, body := send("GET", "/v1/artifacts/sha256:"+strings.Repeat("0", 64), mine, "")
	if resp.StatusCode != 404 || resp.Header.Get("X-Request-ID") != mine {
		t.Errorf("valid ID: %d, X-Request-ID %q; want 404 and %q", resp.StatusCode, resp.Header.Get("X-Request-ID"), mine)
	}
	if e, _ := body["error"].(map[string]any); e["request_id"] != mine {
		t.Errorf("error body %v: want request_id %q", body, mine)
	}

	// Invalid ones (too long, characters outside the set) are replaced, as is a missing one;
	// replacements are valid and differ between requests.
	made := map[string]bool{}
	for _, bad := range []string{strings.Repeat("a", 65), "has space", "semi;colon", "slash/x", ""} {
		resp, _ := send("GET", "/healthz", bad, "")
		got := resp.Header.Get("X-Request-ID")
		if got == bad || !requestIDPattern.MatchString(got) || made[got] {
			t.Errorf("request ID %q answered with %q: want a new valid ID", bad, got)
		}
		made[got] = true
	}

	// Every line logged about a request carries its ID.
	const traced = "make-token-1"
	if resp, body := send("POST", "/v1/tokens", traced, `{"name":"ci","scopes":["read"]}`); resp.StatusCode != 201 {
		t.Fatalf("creating a token: %d %v", resp.StatusCode, body)
	}
	found := false
	for _, l := range logs.lines(t) {
		if l["msg"] == "token created" {
			found = true
			if l["request_id"] != traced {
				t.Errorf("log line %v: want request_id %q", l, traced)
			}
		}
	}
	if !found {
		t.Error("no \"token created\" log line")
	}
}
