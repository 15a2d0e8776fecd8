package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
)

func digestOf(s string) evidence.Digest {
	h := sha256.Sum256([]byte(s))
	return evidence.Digest("sha256:" + hex.EncodeToString(h[:]))
}

// orgWorld is two orgs, each running one artifact whose SBOM lists the same component
// (openssl 3.0.1) and which has an open gap in prod, with a coverage roll-up for today.
type orgWorld struct {
	srv    *httptest.Server
	st     store.Store
	images map[string]evidence.ImageRef // by org
	admin  string
}

func setupOrgs(t *testing.T, cfg api.Config) orgWorld {
	t.Helper()
	ctx := context.Background()
	_, b := bustest.Connect(t)
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	w := orgWorld{st: st, images: map[string]evidence.ImageRef{}}
	for _, org := range []string{"acme", "globex"} {
		img := evidence.ImageRef{Repository: "registry.example/" + org + "/app", Digest: digestOf(org)}
		w.images[org] = img
		doc := evidence.Evidence{ID: digestOf("sbom/" + org), Kind: evidence.KindSBOM, Source: "cosign-tag",
			SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 1}}
		gap := evidence.Gap{Code: "provenance.missing", Severity: "high", Message: "no provenance", Rule: "aspm.gaps.x"}
		sc := evidence.Score{Image: img, Environment: "prod", Org: org, Team: "core", Level: 0, Risk: 80,
			EvaluationID: "eval-" + org, EvaluatedAt: now, Gaps: []evidence.Gap{gap}}
		ev := store.Evaluation{
			Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: now, Evidence: []evidence.Evidence{doc}},
			Deployments: []evidence.Deployment{{Image: img, Environment: "prod", Org: org, Team: "core", Cluster: "c", Namespace: org, Workload: "app", ObservedAt: now}},
			Scores:      []evidence.Score{sc},
			Components:  []store.Component{{SBOM: doc.ID, Name: "openssl", Version: "3.0.1", PURL: "pkg:deb/debian/openssl@3.0.1"}},
		}
		if err := st.WriteEvaluation(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteGapEvents(ctx, []store.GapEvent{{
			Fingerprint: event.GapFingerprint(img.Digest, "prod", gap.Code), Image: img, Environment: "prod", Org: org,
			Team: "core", Gap: gap, State: store.GapOpened, At: now, EvaluationID: sc.EvaluationID,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RollupCoverage(ctx, now); err != nil {
		t.Fatal(err)
	}
	if cfg.Bus.URL == "" {
		cfg.Bus.URL = "nats://unused"
	}
	svc, err := api.New(cfg, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(svc.Handler(b))
	t.Cleanup(w.srv.Close)
	w.admin = newToken(t, st, auth.ScopeAdmin, "*", nil, nil)
	return w
}

// TestOrgIsolation proves that a token of one org sees nothing of another org: not its
// artifacts, deployments, gaps, components, coverage or trend, whether it asks broadly or
// names the other org.
func TestOrgIsolation(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	acme := newToken(t, w.st, auth.ScopeWrite, "acme", nil, nil)
	other := w.images["globex"]
	get := func(path string) (int, map[string]any) {
		t.Helper()
		return doAs(t, acme, "GET", w.srv.URL+path, "", "")
	}
	// Everything broad answers with acme's data only.
	if code, cov := get("/v1/coverage"); code != 200 || cov["total"] != 1.0 {
		t.Errorf("coverage: %d %v, want acme's one artifact", code, cov)
	}
	for _, path := range []string{"/v1/artifacts", "/v1/gaps", "/v1/gaps?state=all", "/v1/components?name=openssl",
		"/v1/components?purl=pkg:deb/debian/openssl@3.0.1", "/v1/deployments"} {
		code, body := get(path)
		items, _ := body["items"].([]any)
		if code != 200 || len(items) != 1 {
			t.Errorf("GET %s: %d %v, want 200 and acme's one item", path, code, body)
			continue
		}
		raw, _ := json.Marshal(items)
		if strings.Contains(string(raw), "globex") || strings.Contains(string(raw), string(other.Digest)) {
			t.Errorf("GET %s leaks globex: %s", path, raw)
		}
	}
	code, tr := get("/v1/coverage/trend?by=org")
	points, _ := tr["points"].([]any)
	if code != 200 || len(points) != 1 || points[0].(map[string]any)["group"] != "acme" {
		t.Errorf("trend by org: %d %v, want acme's point only", code, tr)
	}
	// Naming the other org is refused; its artifact does not exist for this token.
	for _, path := range []string{"/v1/coverage?org=globex", "/v1/artifacts?org=globex", "/v1/gaps?org=globex",
		"/v1/components?name=openssl&org=globex", "/v1/coverage/trend?org=globex", "/v1/deployments?org=globex"} {
		if code, body := get(path); code != 403 || errCode(body) != "forbidden" {
			t.Errorf("GET %s: %d %v, want 403 forbidden", path, code, body)
		}
	}
	if code, body := get("/v1/artifacts/" + string(other.Digest)); code != 404 {
		t.Errorf("globex's artifact: %d %v, want 404", code, body)
	}
	if code, body := doAs(t, acme, "POST", w.srv.URL+"/v1/artifacts/"+string(other.Digest)+":rescan", "", ""); code != 404 {
		t.Errorf("rescanning globex's artifact: %d %v, want 404", code, body)
	}
	dep := `{"image":"` + other.String() + `","environment":"prod","org":"globex"}`
	if code, body := doAs(t, acme, "POST", w.srv.URL+"/v1/deployments", "application/json", dep); code != 403 {
		t.Errorf("pushing a globex deployment: %d %v, want 403", code, body)
	}
	// The operator sees both.
	if code, cov := doAs(t, w.admin, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 200 || cov["total"] != 2.0 {
		t.Errorf("operator coverage: %d %v, want 2", code, cov)
	}
}

func TestAuthentication(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	ctx := context.Background()
	read := newToken(t, w.st, auth.ScopeRead, "acme", nil, nil)

	for _, tc := range []struct{ name, header string }{
		{"none", ""}, {"not bearer", "Basic YTpi"}, {"unknown", "Bearer aspm_" + strings.Repeat("0", 64)},
		{"no prefix", "Bearer " + strings.Repeat("0", 64)},
	} {
		req, _ := http.NewRequest("GET", w.srv.URL+"/v1/coverage", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || errCode(body) != "unauthenticated" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v %q, want 401 unauthenticated with WWW-Authenticate", tc.name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Health and metrics need no token.
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := doAs(t, "", "GET", w.srv.URL+p, "", ""); code != 200 {
			t.Errorf("GET %s without a token: %d", p, code)
		}
	}
	// Scopes: read cannot write or manage tokens.
	dep := `{"image":"` + w.images["acme"].String() + `","environment":"prod","org":"acme"}`
	if code, body := doAs(t, read, "POST", w.srv.URL+"/v1/deployments", "application/json", dep); code != 403 || errCode(body) != "forbidden" {
		t.Errorf("read token pushing: %d %v, want 403", code, body)
	}
	if code, _ := doAs(t, read, "GET", w.srv.URL+"/v1/tokens", "", ""); code != 403 {
		t.Errorf("read token listing tokens: %d, want 403", code)
	}

	// An org admin makes a team-bound read token; the secret is shown once and works; the
	// listing never shows a secret or hash; revoking it stops it.
	orgAdmin := newToken(t, w.st, auth.ScopeAdmin, "acme", nil, nil)
	code, made := doAs(t, orgAdmin, "POST", w.srv.URL+"/v1/tokens", "application/json",
		`{"name":"ci","scopes":["read"],"teams":["core"],"ttl":"24h"}`)
	secret, _ := made["token"].(string)
	rec, _ := made["record"].(map[string]any)
	if code != 201 || !strings.HasPrefix(secret, auth.Prefix) || rec["org"] != "acme" || rec["expires_at"] == nil {
		t.Fatalf("creating a token: %d %v", code, made)
	}
	if code, cov := doAs(t, secret, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 200 || cov["total"] != 1.0 {
		t.Errorf("new token: %d %v", code, cov)
	}
	if code, body := doAs(t, orgAdmin, "POST", w.srv.URL+"/v1/tokens", "application/json",
		`{"name":"x","scopes":["read"],"org":"globex"}`); code != 403 {
		t.Errorf("org admin making a globex token: %d %v, want 403", code, body)
	}
	resp, err := http.NewRequest("GET", w.srv.URL+"/v1/tokens", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Header.Set("Authorization", "Bearer "+orgAdmin)
	r, err := http.DefaultClient.Do(resp)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r.Body)
	r.Body.Close()
	stored, err := w.st.TokenByHash(ctx, auth.Hash(secret))
	if err != nil {
		t.Fatalf("the store does not find the token by its hash: %v", err)
	}
	if r.StatusCode != 200 || strings.Contains(string(raw), secret) || strings.Contains(string(raw), stored.Hash) ||
		!strings.Contains(string(raw), stored.ID) || strings.Contains(string(raw), `"org":"*"`) {
		t.Errorf("token listing: %d %s", r.StatusCode, raw)
	}
	if code, body := doAs(t, orgAdmin, "POST", w.srv.URL+"/v1/tokens/"+stored.ID+":revoke", "", ""); code != 200 {
		t.Fatalf("revoking: %d %v", code, body)
	}
	if code, body := doAs(t, secret, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 401 {
		t.Errorf("revoked token: %d %v, want 401", code, body)
	}
}

func TestTeamAndEnvironmentBinding(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	for _, tc := range []struct {
		name        string
		teams, envs []string
		total       float64
	}{
		{"own team", []string{"core"}, nil, 1},
		{"other team", []string{"web"}, nil, 0},
		{"own env", nil, []string{"prod"}, 1},
		{"other env", nil, []string{"dev"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := newToken(t, w.st, auth.ScopeRead, "acme", tc.teams, tc.envs)
			if code, cov := doAs(t, tok, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 200 || cov["total"] != tc.total {
				t.Errorf("coverage: %d %v, want total %v", code, cov, tc.total)
			}
			code, body := doAs(t, tok, "GET", w.srv.URL+"/v1/gaps", "", "")
			if items, _ := body["items"].([]any); code != 200 || float64(len(items)) != tc.total {
				t.Errorf("gaps: %d %v, want %v items", code, body, tc.total)
			}
			code, _ = doAs(t, tok, "GET", w.srv.URL+"/v1/artifacts/"+string(w.images["acme"].Digest), "", "")
			if want := map[bool]int{true: 200, false: 404}[tc.total == 1]; code != want {
				t.Errorf("artifact: %d, want %d", code, want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	w := setupOrgs(t, api.Config{RateLimit: 0.01, RateBurst: 3})
	tok := newToken(t, w.st, auth.ScopeRead, "acme", nil, nil)
	other := newToken(t, w.st, auth.ScopeRead, "acme", nil, nil)
	for i := range 3 {
		if code, _ := doAs(t, tok, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	req, _ := http.NewRequest("GET", w.srv.URL+"/v1/coverage", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 429 || errCode(body) != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth request: %d %v Retry-After %q, want 429 rate_limited", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// Another token has its own allowance.
	if code, _ := doAs(t, other, "GET", w.srv.URL+"/v1/coverage", "", ""); code != 200 {
		t.Errorf("another token: %d, want 200", code)
	}
}

func TestGapsETag(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	ctx := context.Background()
	get := func(etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", w.srv.URL+"/v1/gaps?env=prod", nil)
		req.Header.Set("Authorization", "Bearer "+w.admin)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	first := get("")
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || etag == "" {
		t.Fatalf("first: %d, ETag %q", first.StatusCode, etag)
	}
	if r := get(etag); r.StatusCode != 304 {
		t.Errorf("unchanged with If-None-Match: %d, want 304", r.StatusCode)
	}
	// A new evaluation closes acme's gap: the tag changes.
	img := w.images["acme"]
	now := time.Now().UTC().Add(time.Second).Truncate(time.Second)
	ev := store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: img, CollectedAt: now, Evidence: []evidence.Evidence{}},
		Deployments: []evidence.Deployment{{Image: img, Environment: "prod", Org: "acme", Team: "core", Cluster: "c", Namespace: "acme", Workload: "app", ObservedAt: now}},
		Scores:      []evidence.Score{{Image: img, Environment: "prod", Org: "acme", Team: "core", Level: 3, EvaluationID: "eval-2", EvaluatedAt: now, Gaps: []evidence.Gap{}}},
	}
	if err := w.st.WriteEvaluation(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if r := get(etag); r.StatusCode != 200 || r.Header.Get("ETag") == etag {
		t.Errorf("after a change: %d, ETag %q (was %q), want 200 and a new tag", r.StatusCode, r.Header.Get("ETag"), etag)
	}
}
