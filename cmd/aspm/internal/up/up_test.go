package up_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/cmd/aspm/internal/up"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/demo"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/oci"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/clickhouse/clickhousetest"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
)

// TestPipelineClickHouse runs ingest, scorer and api on an embedded NATS server and the real
// ClickHouse server, pushes the demo deployments through POST /v1/deployments and checks the
// exact level and gaps the API then reports for every artifact.
func TestPipelineClickHouse(t *testing.T) {
	st := clickhousetest.Open(t)
	runPipeline(t, func(context.Context) (store.Store, error) { return nopClose{st}, nil })
}

// TestPipelineSQLite is the same flow on the embedded SQLite store.
func TestPipelineSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aspm.db")
	runPipeline(t, func(ctx context.Context) (store.Store, error) { return sqlite.Open(ctx, path) })
}

// nopClose leaves closing to the test helper that opened the store.
type nopClose struct{ store.Store }

func (nopClose) Close() error { return nil }

// seedRegistry starts an in-process registry and seeds it with the demo world, returning the
// world and the trusted root and key files that verify it.
func seedRegistry(t *testing.T) (w *demo.World, rootPath, keyPath, host string) {
	t.Helper()
	reg := httptest.NewServer(oci.NewRegistryHandler())
	t.Cleanup(reg.Close)
	ss, err := demo.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	host = strings.TrimPrefix(reg.URL, "http://")
	client, err := oci.New(oci.Config{Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	w, err = demo.Seed(context.Background(), client, host, ss)
	if err != nil {
		t.Fatalf("seeding: %v", err)
	}
	dir := t.TempDir()
	rootJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ss.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	rootPath, keyPath = filepath.Join(dir, "trusted_root.json"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(rootPath, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return w, rootPath, keyPath, host
}

// start runs up.Run and returns the API's base URL; the run stops when the test ends.
func start(t *testing.T, cfg up.Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	cfg.OnReady = func(url string) { ready <- url }
	go func() { errc <- up.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("up.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("up.Run did not stop within 30s of cancellation")
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-errc:
		t.Fatalf("up.Run stopped before serving: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("API not ready within 2 minutes")
	}
	return ""
}

// readToken returns the token aspm up saved in dir/name.
func readToken(t *testing.T, dir, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("aspm up saved no token: %v", err)
	}
	return strings.TrimSpace(string(raw))
}

func getJSON(t *testing.T, token, url string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decoding %s: %v", url, body, err)
		}
	}
	return resp.StatusCode
}

type artifactView struct {
	Digest             evidence.Digest  `json:"digest"`
	SLSALevel          evidence.Level   `json:"slsa_level"`
	VerifiedProvenance bool             `json:"verified_provenance"`
	Scores             []evidence.Score `json:"scores"`
	Evidence           []evidence.Evidence
}

func runPipeline(t *testing.T, open func(context.Context) (store.Store, error)) {
	world, rootPath, keyPath, host := seedRegistry(t)
	ns := bustest.Start(t)
	dataDir := t.TempDir()
	url := start(t, up.Config{
		Listen: "127.0.0.1:0", DataDir: dataDir, NATSURL: ns.ClientURL(), OpenStore: open,
		TrustedRoots: []string{rootPath}, TrustedKeys: map[string]string{demo.KeyName: keyPath},
		Registry: oci.Config{Insecure: []string{host}},
	})

	// Push the deployments the way a CD system would.
	var reqs []map[string]string
	for _, d := range world.Deployments {
		reqs = append(reqs, map[string]string{
			"image": d.Image.String(), "environment": d.Environment, "cluster": d.Cluster,
			"namespace": d.Namespace, "workload": d.Workload, "org": d.Org, "team": d.Team,
		})
	}
	body, _ := json.Marshal(reqs)
	// The store had no tokens: aspm up made an admin token and saved it.
	token := readToken(t, dataDir, up.AdminTokenFile)
	req, err := http.NewRequest("POST", url+"/v1/deployments", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct {
		Accepted int `json:"accepted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&accepted); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || accepted.Accepted != len(reqs) {
		t.Fatalf("POST /v1/deployments: status %d, accepted %d; want 202 and %d", resp.StatusCode, accepted.Accepted, len(reqs))
	}

	// Wait until every deployment is scored, then compare the exact decisions.
	got := map[string]evidence.Score{}
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < len(world.Expected) && time.Now().Before(deadline) {
		for _, e := range world.Expected {
			var v artifactView
			if getJSON(t, token, url+"/v1/artifacts/"+e.Image.Digest.String(), &v) != http.StatusOK {
				continue
			}
			for _, s := range v.Scores {
				if s.Environment == e.Environment {
					got[e.Image.Digest.String()+" "+e.Environment] = s
				}
			}
		}
		time.Sleep(500 * time.Millisecond) // 16 requests a round stay within the token rate limit (50/s)
	}
	levels := map[string]int{"L0": 0, "L1": 0, "L2": 0, "L3": 0}
	byDigest := map[evidence.Digest]demo.Expected{}
	for _, e := range world.Expected {
		name := e.Image.Repository[strings.LastIndex(e.Image.Repository, "/")+1:] + "/" + e.Environment
		s, ok := got[e.Image.Digest.String()+" "+e.Environment]
		if !ok {
			t.Errorf("%s: not scored within 90s", name)
			continue
		}
		if s.Level != e.Level {
			t.Errorf("%s: level %s, want %s (explanation: %q)", name, s.Level, e.Level, s.Explanation)
		}
		codes := s.GapCodes()
		slices.Sort(codes)
		if diff := cmp.Diff(e.Gaps, codes, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
			t.Errorf("%s: gaps (-want +got):\n%s", name, diff)
		}
		if s.VerifiedProvenance != e.VerifiedProvenance {
			t.Errorf("%s: verified_provenance %v, want %v", name, s.VerifiedProvenance, e.VerifiedProvenance)
		}
		if prev, seen := byDigest[e.Image.Digest]; !seen || e.Level > prev.Level {
			byDigest[e.Image.Digest] = e
		}
	}
	verified := 0
	for _, e := range byDigest {
		levels[e.Level.String()]++
		if e.VerifiedProvenance {
			verified++
		}
	}
	var cov store.Coverage
	if code := getJSON(t, token, url+"/v1/coverage", &cov); code != http.StatusOK {
		t.Fatalf("GET /v1/coverage: %d", code)
	}
	want := store.Coverage{Total: len(byDigest), ByLevel: levels, VerifiedProvenance: verified, WithGaps: cov.WithGaps}
	if diff := cmp.Diff(want, cov); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
	for _, l := range []string{"L0", "L1", "L2", "L3"} {
		if levels[l] == 0 {
			t.Errorf("the demo world has no artifact at %s", l)
		}
	}
}

// TestDemo runs what `make demo` runs — aspm up --demo on embedded NATS and SQLite — and checks
// that the coverage it serves is the demo world's.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	dataDir := t.TempDir()
	url := start(t, up.Config{Listen: "127.0.0.1:0", DataDir: dataDir, Demo: true, Out: &out})
	token := readToken(t, dataDir, up.DemoTokenFile)
	if fi, err := os.Stat(filepath.Join(dataDir, up.DemoTokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo token file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// Without the token the API answers 401; the demo token only reads.
	if code := getJSON(t, "", url+"/v1/coverage", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/coverage without a token: %d, want 401", code)
	}
	req, _ := http.NewRequest("POST", url+"/v1/deployments", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /v1/deployments with the demo token: %v %v, want 403", resp.Status, err)
	}
	var cov store.Coverage
	if code := getJSON(t, token, url+"/v1/coverage", &cov); code != http.StatusOK {
		t.Fatalf("GET /v1/coverage: %d", code)
	}
	total, byLevel, verified, withGaps := demo.Coverage()
	want := store.Coverage{Total: total, ByLevel: byLevel, VerifiedProvenance: verified, WithGaps: withGaps}
	if diff := cmp.Diff(want, cov); diff != "" {
		t.Errorf("coverage (-want +got):\n%s\noutput:\n%s", diff, out.String())
	}
	// The analytics endpoints answer from what the pipeline wrote: every open gap of the demo,
	// today's roll-up, and where each openssl version runs.
	var gaps struct {
		Items []store.GapItem `json:"items"`
	}
	if code := getJSON(t, token, url+"/v1/gaps?limit=1000", &gaps); code != http.StatusOK || len(gaps.Items) != demo.OpenGaps() {
		t.Errorf("GET /v1/gaps: %d, %d items, want %d", code, len(gaps.Items), demo.OpenGaps())
	}
	var trend struct {
		Points []store.TrendPoint `json:"points"`
	}
	if code := getJSON(t, token, url+"/v1/coverage/trend?by=org", &trend); code != http.StatusOK || len(trend.Points) != 1 ||
		trend.Points[0].Total != total || trend.Points[0].VerifiedProvenance != verified {
		t.Errorf("GET /v1/coverage/trend: %d %+v, want today's point with %d artifacts, %d verified", code, trend.Points, total, verified)
	}
	for _, v := range []string{"3.0.2", "3.0.15"} {
		var hits struct {
			Items []store.ComponentHit `json:"items"`
		}
		code := getJSON(t, token, url+"/v1/components?name=openssl&version="+v, &hits)
		if want := demo.ComponentPlaces("openssl", v); code != http.StatusOK || len(hits.Items) != want || want == 0 {
			t.Errorf("GET /v1/components openssl %s: %d, %d hits, want %d", v, code, len(hits.Items), want)
		}
	}
	if !strings.Contains(out.String(), "Dashboard: "+url+"/#token="+token+"\n") || !strings.Contains(out.String(), "Token:     "+token) {
		t.Errorf("output does not name the dashboard URL:\n%s", out.String())
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The dashboard at / is the page that reads /v1 with the token of the link above (its
	// figures are tested in a browser by services/api's TestDashboardInBrowser).
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page), `<script src="/assets/app.js" defer></script>`) ||
		!strings.Contains(string(page), `data-testid="headline-total"`) {
		t.Errorf("GET /: %s %q, want the dashboard page:\n%s", resp.Status, resp.Header.Get("Content-Type"), page)
	}
	// /metrics serves every service's metrics and the runtime's, once each.
	resp, err = http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", resp.StatusCode, metrics)
	}
	for _, want := range []string{`aspm_scorer_scores_total{level="L3"} `, fmt.Sprintf(`aspm_ingest_messages_total{outcome="ok",subject="aspm.deploy.observed"} %d`, demo.Deployments()), "go_goroutines ", "aspm_api_request_seconds_count"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The demo's trusted material is left for users to verify with.
	for _, p := range []string{"demo/trusted_root.json", "demo/" + demo.KeyName + ".pub", "aspm.db", "nats/jetstream"} {
		if _, err := os.Stat(filepath.Join(dataDir, p)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
}
