package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspmhq/aspm/pkg/ops"
)

func ready(context.Context) error { return nil }

// status is the JSON body of /healthz and /readyz.
type status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// mustGet does a request against h and returns the response and its body.
func mustGet(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func mustStatus(t *testing.T, res *http.Response, body string) status {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var s status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return s
}

func TestStatusEndpoints(t *testing.T) {
	errNATS := errors.New("nats: no servers available")
	tests := []struct {
		name  string
		path  string
		ready ops.ReadyFunc
		code  int
		want  status
	}{
		{name: "healthz", path: "/healthz", ready: ready, code: http.StatusOK, want: status{Status: "ok"}},
		{
			name: "healthz does not depend on readiness", path: "/healthz",
			ready: func(context.Context) error { return errNATS },
			code:  http.StatusOK, want: status{Status: "ok"},
		},
		{name: "readyz when ready", path: "/readyz", ready: ready, code: http.StatusOK, want: status{Status: "ready"}},
		{
			name: "readyz when not ready", path: "/readyz",
			ready: func(context.Context) error { return fmt.Errorf("connecting to the bus: %w", errNATS) },
			code:  http.StatusServiceUnavailable,
			want:  status{Status: "not ready", Reason: "connecting to the bus: nats: no servers available"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ops.Handler(tt.ready, prometheus.NewRegistry())
			res, body := mustGet(t, h, http.MethodGet, tt.path)
			if res.StatusCode != tt.code {
				t.Errorf("status code %d, want %d", res.StatusCode, tt.code)
			}
			if diff := cmp.Diff(tt.want, mustStatus(t, res, body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadyzDeadline(t *testing.T) {
	var deadline time.Time
	h := ops.Handler(func(ctx context.Context) error {
		var ok bool
		if deadline, ok = ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		return nil
	}, prometheus.NewRegistry())
	start := time.Now()
	res, body := mustGet(t, h, http.MethodGet, "/readyz")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status code %d (%s), want 200", res.StatusCode, body)
	}
	if d := deadline.Sub(start); d <= 0 || d > 10*time.Second {
		t.Errorf("the readiness check had %s to answer, want a short positive deadline", d)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "aspm_test_things_total", Help: "Things counted by the test."})
	reg.MustRegister(c)
	c.Add(3)

	res, body := mustGet(t, ops.Handler(ready, reg), http.MethodGet, "/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status code %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	for _, line := range []string{
		"# HELP aspm_test_things_total Things counted by the test.",
		"# TYPE aspm_test_things_total counter",
		"aspm_test_things_total 3",
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("no line %q in\n%s", line, body)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := ops.Handler(ready, prometheus.NewRegistry())
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			t.Run(method+" "+path, func(t *testing.T) {
				res, _ := mustGet(t, h, method, path)
				if res.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("status code %d, want 405", res.StatusCode)
				}
				if allow := res.Header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
					t.Errorf("Allow = %q, want it to list GET", allow)
				}
			})
		}
	}
	t.Run("HEAD is a GET", func(t *testing.T) {
		if res, _ := mustGet(t, h, http.MethodHead, "/healthz"); res.StatusCode != http.StatusOK {
			t.Errorf("HEAD /healthz: %d, want 200", res.StatusCode)
		}
	})
}

func TestRegisterKeepsOtherRoutes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong") })
	ops.Register(mux, ready, prometheus.NewRegistry())

	res, body := mustGet(t, mux, http.MethodGet, "/api/v1/ping")
	if res.StatusCode != http.StatusOK || body != "pong" {
		t.Errorf("GET /api/v1/ping: %d %q, want 200 pong", res.StatusCode, body)
	}
	res, body = mustGet(t, mux, http.MethodGet, "/healthz")
	if diff := cmp.Diff(status{Status: "ok"}, mustStatus(t, res, body)); diff != "" {
		t.Errorf("GET /healthz (-want +got):\n%s", diff)
	}
	if res, _ := mustGet(t, mux, http.MethodGet, "/nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", res.StatusCode)
	}
}

// serve runs fn (Serve or ServeListener) in a goroutine and returns the address it sent on
// started and a channel with its result.
func serve(t *testing.T, fn func(started chan<- string) error) (string, <-chan error) {
	t.Helper()
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- fn(started) }()
	select {
	case addr := <-started:
		return addr, done
	case err := <-done:
		t.Fatalf("the server stopped before it started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start within 10s")
	}
	return "", nil
}

// mustStop waits for the result of a server whose context was cancelled.
func mustStop(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after ctx was cancelled the server returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop within 15s of ctx being cancelled")
	}
}

func mustGetURL(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := ops.Handler(ready, prometheus.NewRegistry())
	addr, done := serve(t, func(started chan<- string) error { return ops.Serve(ctx, "127.0.0.1:0", h, started) })

	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("started sent %q (%v), want 127.0.0.1 and the bound port", addr, err)
	}
	if code, body := mustGetURL(t, "http://"+addr+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("GET /healthz: %d %q", code, body)
	}

	cancel()
	mustStop(t, done)
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still answers after it stopped")
	}
}

func TestServeWaitsForRequestsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entered := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	addr, done := serve(t, func(started chan<- string) error { return ops.Serve(ctx, "127.0.0.1:0", mux, started) })

	type result struct {
		Code int
		Body string
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- result{Body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- result{res.StatusCode, string(b)}
	}()
	<-entered
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if diff := cmp.Diff(result{http.StatusOK, "done"}, <-got); diff != "" {
		t.Errorf("the request in flight (-want +got):\n%s", diff)
	}
	mustStop(t, done)
}

// mustListen listens on a random loopback port; the listener is closed when the test ends.
func mustListen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestServeListener(t *testing.T) {
	l := mustListen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := ops.Handler(func(context.Context) error { return errors.New("store: ping failed") }, prometheus.NewRegistry())
	addr, done := serve(t, func(started chan<- string) error { return ops.ServeListener(ctx, l, h, started) })
	if addr != l.Addr().String() {
		t.Errorf("started sent %q, want the listener's address %q", addr, l.Addr())
	}
	code, body := mustGetURL(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ping failed") {
		t.Errorf("GET /readyz: %d %q, want 503 with the reason", code, body)
	}
	cancel()
	mustStop(t, done)
}

func TestServeListenerNilStarted(t *testing.T) {
	l := mustListen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ops.ServeListener(ctx, l, ops.Handler(ready, prometheus.NewRegistry()), nil) }()
	if code, _ := mustGetURL(t, "http://"+l.Addr().String()+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d, want 200", code)
	}
	cancel()
	mustStop(t, done)
}

func TestServeListenerClosedListener(t *testing.T) {
	l := mustListen(t)
	l.Close()
	err := ops.ServeListener(context.Background(), l, http.NotFoundHandler(), nil)
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeListener on a closed listener = %v, want an error wrapping net.ErrClosed", err)
	}
}

func TestServeAddressInUse(t *testing.T) {
	l := mustListen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	started := make(chan string, 1)
	err := ops.Serve(ctx, l.Addr().String(), http.NotFoundHandler(), started)
	if err == nil {
		t.Fatal("Serve on an address in use returned nil")
	}
	if !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("Serve error %q does not name the address", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "listen" {
		t.Errorf("Serve error %v does not wrap the listen error", err)
	}
	select {
	case addr := <-started:
		t.Errorf("started received %q although Serve did not listen", addr)
	default:
	}
}

func ExampleHandler() {
	reg := prometheus.NewRegistry()
	h := ops.Handler(func(context.Context) error { return errors.New("bus: not connected") }, reg)

	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 {"status":"ok"}
	// 503 {"status":"not ready","reason":"bus: not connected"}
}
