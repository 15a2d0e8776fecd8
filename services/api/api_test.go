package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
)

const digest = "sha256:ab00000000000000000000000000000000000000000000000000000000000000"

var img = evidence.ImageRef{Repository: "registry.example/acme/app", Digest: digest}

type fixture struct {
	srv *httptest.Server
	bus *bus.Bus
	st  store.Store
	// token is an operator's: admin of every org.
	token string
}

func setup(t testing.TB) fixture {
	t.Helper()
	ctx := context.Background()
	_, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t0 := time.Unix(1700000000, 0).UTC()
	ev := store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: t0, Evidence: []evidence.Evidence{}},
		Deployments: []evidence.Deployment{{Image: img, Environment: "prod", Org: "acme", Team: "pay", ObservedAt: t0}},
		Scores: []evidence.Score{{
			Image: img, Environment: "prod", Org: "acme", Team: "pay", Level: 1, Risk: 50, EvaluationID: "e1", EvaluatedAt: t0,
			Gaps: []evidence.Gap{{Code: "sbom.missing", Severity: "medium", Message: "no SBOM", Rule: "aspm.gaps.sbom_missing"}},
		}},
	}
	if err := st.WriteEvaluation(ctx, ev); err != nil {
		t.Fatal(err)
	}
	svc, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, MaxBodyBytes: 4096}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(b))
	t.Cleanup(srv.Close)
	return fixture{srv: srv, bus: b, st: st, token: newToken(t, st, auth.ScopeAdmin, "*", nil, nil)}
}

// newToken stores a token with scope and binding in st and returns its secret.
func newToken(t testing.TB, st auth.Store, scope auth.Scope, org string, teams, envs []string) string {
	t.Helper()
	secret, tok, err := auth.New("test "+string(scope), []auth.Scope{scope}, org, teams, envs, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

// do sends a request with the operator's token.
func (f fixture) do(t *testing.T, method, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	return doAs(t, f.token, method, url, contentType, body)
}

// doAs sends a request with token (none when empty) and decodes a JSON answer.
func doAs(t *testing.T, token, method, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestReadEndpoints(t *testing.T) {
	f := setup(t)
	code, cov := f.do(t, "GET", f.srv.URL+"/v1/coverage", "", "")
	want := map[string]any{"total": 1.0, "by_level": map[string]any{"L0": 0.0, "L1": 1.0, "L2": 0.0, "L3": 0.0}, "verified_provenance": 0.0, "with_gaps": 1.0, "accepted": 0.0}
	if code != 200 || !cmp.Equal(want, cov) {
		t.Errorf("coverage: %d %s", code, cmp.Diff(want, cov))
	}
	code, cov = f.do(t, "GET", f.srv.URL+"/v1/coverage?env=dev", "", "")
	if code != 200 || cov["total"] != 0.0 {
		t.Errorf("coverage in dev: %d %v", code, cov)
	}

	code, a := f.do(t, "GET", f.srv.URL+"/v1/artifacts/"+digest, "", "")
	if code != 200 || a["slsa_level"] != 1.0 || a["risk"] != 50.0 || a["repository"] != img.Repository {
		t.Errorf("artifact: %d %v", code, a)
	}
	gaps, _ := a["gaps"].([]any)
	if len(gaps) != 1 || gaps[0].(map[string]any)["environment"] != "prod" || gaps[0].(map[string]any)["code"] != "sbom.missing" {
		t.Errorf("artifact gaps = %v", gaps)
	}

	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/artifacts/sha256:cd00000000000000000000000000000000000000000000000000000000000000", 404, "not_found"},
		{"/v1/artifacts/sha256:XYZ", 400, "invalid_argument"},
		{"/v1/artifacts/latest", 400, "invalid_argument"},
	} {
		code, body := f.do(t, "GET", f.srv.URL+tc.path, "", "")
		if code != tc.status || errCode(body) != tc.code {
			t.Errorf("GET %s: %d %v; want %d %s", tc.path, code, body, tc.status, tc.code)
		}
	}
	for _, p := range []string{"/healthz", "/"} {
		if code, _ := f.do(t, "GET", f.srv.URL+p, "", ""); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func TestPostDeployments(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	one := `{"image":"registry.example/acme/app@` + digest + `","environment":"prod","org":"acme","team":"pay","cluster":"c1","namespace":"n","workload":"w"}`
	code, body := f.do(t, "POST", f.srv.URL+"/v1/deployments", "application/json", one)
	if code != 202 || body["accepted"] != 1.0 {
		t.Fatalf("POST one: %d %v", code, body)
	}
	code, body = f.do(t, "POST", f.srv.URL+"/v1/deployments", "application/json", "["+one+","+strings.Replace(one, `"prod"`, `"dev"`, 1)+"]")
	if code != 202 || body["accepted"] != 2.0 {
		t.Fatalf("POST list: %d %v", code, body)
	}
	// Two distinct deployments reached the stream (the repeated prod one was de-duplicated or
	// is identical in content apart from its observation time).
	cons, err := f.bus.JetStream().OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectDeployObserved}})
	if err != nil {
		t.Fatal(err)
	}
	envs := map[string]bool{}
	msgs, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range msgs.Messages() {
		var m event.DeployObserved
		if err := event.Decode(msg.Data(), event.SchemaDeployObserved, &m); err != nil {
			t.Fatal(err)
		}
		envs[m.Deployment.Environment] = true
		if m.Deployment.Image != img || m.Deployment.Cluster != "c1" || m.Deployment.ObservedAt.IsZero() {
			t.Errorf("published deployment %+v", m.Deployment)
		}
	}
	if !envs["prod"] || !envs["dev"] {
		t.Errorf("published environments %v, want prod and dev", envs)
	}

	bad := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"empty", "application/json", "", 400, "invalid_argument"},
		{"not json", "application/json", "{", 400, "invalid_argument"},
		{"empty list", "application/json", "[]", 400, "invalid_argument"},
		{"tag not digest", "application/json", `{"image":"registry.example/acme/app:latest","environment":"prod","org":"acme"}`, 400, "invalid_argument"},
		{"no environment", "application/json", `{"image":"registry.example/acme/app@` + digest + `","org":"acme"}`, 400, "invalid_argument"},
		{"unknown field", "application/json", `{"image":"registry.example/acme/app@` + digest + `","environment":"prod","org":"acme","tag":"x"}`, 400, "invalid_argument"},
		{"bad label", "application/json", `{"image":"registry.example/acme/app@` + digest + `","environment":"prod env","org":"acme"}`, 400, "invalid_argument"},
		{"trailing data", "application/json", one + "{}", 400, "invalid_argument"},
		{"observed in the future", "application/json", strings.Replace(one, `"org"`, `"observed_at":"2999-01-01T00:00:00Z","org"`, 1), 400, "invalid_argument"},
		{"observed before 1970", "application/json", strings.Replace(one, `"org"`, `"observed_at":"1960-01-01T00:00:00Z","org"`, 1), 400, "invalid_argument"},
		{"too large", "application/json", "[" + strings.Repeat(one+",", 40) + one + "]", 413, "payload_too_large"},
		{"wrong content type", "text/plain", one, 415, "unsupported_media_type"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, "POST", f.srv.URL+"/v1/deployments", tc.contentType, tc.body)
			if code != tc.status || errCode(body) != tc.code {
				t.Errorf("%d %v; want %d %s", code, body, tc.status, tc.code)
			}
		})
	}
	if code, _ := f.do(t, "DELETE", f.srv.URL+"/v1/deployments", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d, want 405", code)
	}
}

// TestDashboardServesThePage checks that the dashboard's page and files are served without a
// token (they hold no data) and with the security headers; TestDashboardInBrowser tests the page.
func TestDashboardServesThePage(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html", `<script src="/assets/app.js" defer></script>`},
		{"/assets/app.js", "text/javascript", "/v1/coverage"},
		{"/assets/app.css", "text/css", ".cards"},
	} {
		resp, err := http.Get(f.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) ||
			!bytes.Contains(body, []byte(tc.has)) {
			t.Errorf("GET %s: %s %q, want %s holding %q", tc.path, resp.Status, resp.Header.Get("Content-Type"), tc.ctype, tc.has)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
	// The page shows no data itself: the figures come from /v1 with the user's token.
	if code, _ := doAs(t, "", "GET", f.srv.URL+"/v1/coverage", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/coverage without a token: %d, want 401", code)
	}
}

func TestRescan(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	code, body := f.do(t, "POST", f.srv.URL+"/v1/artifacts/"+digest+":rescan", "", "")
	if code != http.StatusAccepted || body["image"] != img.String() {
		t.Fatalf("rescan: %d %v", code, body)
	}
	cons, err := f.bus.JetStream().OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectScanRequested}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatalf("no scan request published: %v", err)
	}
	var m event.ScanRequested
	if err := event.Decode(msg.Data(), event.SchemaScanRequested, &m); err != nil || m.Image != img || m.ID != body["id"] {
		t.Errorf("scan request %+v, %v", m, err)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/artifacts/sha256:cd00000000000000000000000000000000000000000000000000000000000000:rescan", 404},
		{"/v1/artifacts/" + digest + ":delete", 404},
		{"/v1/artifacts/nope:rescan", 400},
	} {
		if code, body := f.do(t, "POST", f.srv.URL+tc.path, "", ""); code != tc.status {
			t.Errorf("POST %s: %d %v, want %d", tc.path, code, body, tc.status)
		}
	}
}
