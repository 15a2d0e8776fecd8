package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/bus/bustest"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/pkg/store/sqlite"
	"github.com/aspmhq/aspm/services/api"
	"github.com/aspmhq/aspm/services/api/internal/httpapi"
)

// spec is the OpenAPI document with a router over its operations.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

// mustLoadSpec loads and validates openapi.yaml. The router ignores the document's servers:
// the tests serve on random ports.
func mustLoadSpec(t *testing.T) spec {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("routing openapi.yaml: %v", err)
	}
	return spec{doc: doc, router: router}
}

// operations returns every operation of the document by "METHOD path".
func (s spec) operations() map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

// exampleURL returns path with each path parameter replaced by the example the document gives
// for it.
func exampleURL(t *testing.T, path string, op *openapi3.Operation) string {
	t.Helper()
	for _, p := range op.Parameters {
		if p.Value.In != openapi3.ParameterInPath {
			continue
		}
		ex, ok := p.Value.Example.(string)
		if !ok {
			t.Fatalf("%s: path parameter %s has no example", path, p.Value.Name)
		}
		path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", ex)
	}
	return path
}

// authenticate accepts a request that presents a bearer token; the server decides whether it
// is a valid one.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.Type != "http" || in.SecurityScheme.Scheme != "bearer" {
		return fmt.Errorf("unexpected security scheme %s", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if scheme, cred, ok := strings.Cut(h, " "); !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// exchange is one request sent to a server and its answer, each checked against the document.
type exchange struct {
	op         string // "METHOD path" of the operation in the document
	status     int
	header     http.Header
	body       []byte
	requestErr error // why the document rejects the request, nil when it accepts it
}

// mustExchange validates req against the document, sends it to base, and validates the answer:
// its status must be documented for the operation, with the documented headers and body.
func (s spec) mustExchange(t *testing.T, base string, req *http.Request, body []byte) exchange {
	t.Helper()
	ctx := context.Background()
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is no operation of the document: %v", req.Method, req.URL, err)
	}
	// The server gets the request as it is: validation must not add defaults to it.
	send := req.Clone(ctx)
	send.Body = io.NopCloser(bytes.NewReader(body))
	opts := &openapi3filter.Options{AuthenticationFunc: authenticate, IncludeResponseStatus: true, MultiError: true,
		SkipSettingDefaults: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	ex := exchange{op: route.Method + " " + route.Path, requestErr: openapi3filter.ValidateRequest(ctx, in)}

	send.URL.Scheme, send.URL.Host, send.Host = "http", strings.TrimPrefix(base, "http://"), ""
	resp, err := http.DefaultClient.Do(send)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ex.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	ex.status, ex.header = resp.StatusCode, resp.Header

	documented := route.Operation.Responses.Status(resp.StatusCode)
	if documented == nil {
		t.Fatalf("%s answered %d, which the document does not list for it; body %s", ex.op, resp.StatusCode, ex.body)
	}
	// ValidateResponse skips 304; check the documented headers of every status here.
	for name, h := range documented.Value.Headers {
		if h.Value.Required && resp.Header.Get(name) == "" {
			t.Errorf("%s %d: no %s header, which the document requires", ex.op, resp.StatusCode, name)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: opts}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %d does not match the document: %v\nbody: %s", ex.op, resp.StatusCode, err, ex.body)
	}
	return ex
}

// specWorld is a seeded store behind three servers: the service as it runs (connected to
// NATS), one whose bus refuses every message, and one with a tight rate limit.
type specWorld struct {
	main, down, limited string // base URLs
	acme, globex        evidence.ImageRef
	// The secrets of tokens: an operator's (admin of every org), acme's admin, writer and
	// reader (bound to team core), a reader of two teams, a revoked one and one to spend on
	// the limited server.
	operator, acmeAdmin, acmeWrite, acmeRead, acmeTwoTeams, revoked, limitedToken string
	// The ids of an acme token to revoke and of a globex token.
	revocableID, globexTokID string
	// The ids of acme's exception accepting its prod gap, of one to revoke, and of globex's.
	acceptedID, revocableExcID, globexExcID string
	t0                                      time.Time
}

// publisherFunc is a Publisher made of a function.
type publisherFunc func(ctx context.Context, subject string, m bus.Message) error

func (f publisherFunc) Publish(ctx context.Context, subject string, m bus.Message) error {
	return f(ctx, subject, m)
}

var _ httpapi.Publisher = publisherFunc(nil)

// mustSpecWorld seeds a store with two orgs. Acme's artifact has every kind of evidence, a
// score in prod with gaps and the decision's explanation, an ended deployment in staging whose
// score has no gaps recorded (null), components, an open and a closed gap and a coverage
// roll-up; globex's is a bare L0 artifact.
func mustSpecWorld(t *testing.T) specWorld {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	t0 := now.Add(-time.Hour)
	w := specWorld{t0: t0,
		acme:   evidence.ImageRef{Repository: "registry.example/acme/app", Digest: digestOf("spec/acme")},
		globex: evidence.ImageRef{Repository: "registry.example/globex/app", Digest: digestOf("spec/globex")},
	}

	started, finished := t0.Add(-20*time.Minute), t0.Add(-10*time.Minute)
	prov := evidence.Evidence{ID: digestOf("spec/acme/provenance"), Kind: evidence.KindProvenance,
		MediaType: "application/vnd.dsse.envelope.v1+json", Source: "oci-referrers", PredicateType: "https://slsa.dev/provenance/v1",
		Subjects: []evidence.Digest{w.acme.Digest}, SubjectMatch: true, Signed: true,
		Verification: evidence.Verification{Verified: true, TlogEntries: 1, Timestamps: 1, SignedAt: finished,
			Signer: &evidence.Signer{Type: evidence.SignatureKeyless, Issuer: "https://token.actions.githubusercontent.com",
				Identity:         "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0",
				SourceRepository: "https://github.com/acme/app", SourceRef: "refs/tags/v1.2.0", SourceDigest: "0123abcd",
				BuildSignerURI: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0",
				BuildConfigURI: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0", RunnerEnvironment: "github-hosted"}},
		Provenance: &evidence.Provenance{BuildType: "https://actions.github.io/buildtypes/workflow/v1",
			BuilderID: "https://github.com/actions/runner/github-hosted", SourceRepository: "https://github.com/acme/app",
			SourceRef: "refs/tags/v1.2.0", SourceDigest: "0123abcd", PredicateVersion: "v1", Workflow: ".github/workflows/release.yml",
			EventName: "push", RunnerEnvironment: "github-hosted", InvocationID: "https://github.com/acme/app/actions/runs/1/attempts/1",
			StartedOn: &started, FinishedOn: &finished,
			ResolvedDependencies: []evidence.Dependency{{URI: "git+https://github.com/acme/app@refs/tags/v1.2.0", Digest: map[string]string{"gitCommit": "0123abcd"}}}},
	}
	sbom := evidence.Evidence{ID: digestOf("spec/acme/sbom"), Kind: evidence.KindSBOM, Source: "cosign-tag",
		PredicateType: "https://cyclonedx.org/bom", Subjects: []evidence.Digest{w.acme.Digest}, SubjectMatch: true,
		SBOM: &evidence.SBOM{Format: "cyclonedx", SpecVersion: "1.6", Components: 2, Ref: string(digestOf("spec/acme/sbom"))}}
	sig := evidence.Evidence{ID: digestOf("spec/acme/signature"), Kind: evidence.KindSignature, Source: "cosign-tag", Signed: true,
		Verification: evidence.Verification{Error: "signer is not an expected identity", IdentityMismatch: true,
			Signer: &evidence.Signer{Type: evidence.SignatureKey, Identity: "release-key"}}}
	junk := evidence.Evidence{ID: digestOf("spec/acme/junk"), Kind: evidence.KindUnknown, Source: "oci-referrers",
		Malformed: "not a DSSE envelope"}
	sbomUnsigned := evidence.Gap{Code: "sbom.unsigned", Severity: "low", Message: "the SBOM is not signed", Rule: "aspm.gaps.sbom_unsigned"}
	provMissing := evidence.Gap{Code: "provenance.missing", Severity: "high", Message: "no provenance", Rule: "aspm.gaps.provenance_missing"}
	ended := t0.Add(30 * time.Minute)
	acme := store.Evaluation{
		Evidence: evidence.ArtifactEvidence{Image: w.acme, CollectedAt: t0, Evidence: []evidence.Evidence{prov, sbom, sig, junk},
			Errors: []string{"fetching cosign attachments: 503 Service Unavailable"}},
		Deployments: []evidence.Deployment{
			{Image: w.acme, Environment: "prod", Cluster: "eu-1", Namespace: "pay", Workload: "api", Org: "acme", Team: "core", ObservedAt: t0},
			{Image: w.acme, Environment: "staging", Org: "acme", Team: "core", ObservedAt: t0, EndedAt: &ended},
		},
		Scores: []evidence.Score{
			{Image: w.acme, Environment: "prod", Org: "acme", Team: "core", Level: 2, Risk: 3, VerifiedProvenance: true,
				Gaps: []evidence.Gap{sbomUnsigned}, Explanation: []string{"aspm.level.verified_provenance", "aspm.level.hosted_builder"},
				PolicyVersion: "test", EvaluationID: "eval-acme-1", EvaluatedAt: t0},
			{Image: w.acme, Environment: "staging", Org: "acme", Team: "core", Level: 2, VerifiedProvenance: true,
				EvaluationID: "eval-acme-1", EvaluatedAt: t0},
		},
		Components: []store.Component{
			{SBOM: sbom.ID, Name: "openssl", Version: "3.0.1", PURL: "pkg:deb/debian/openssl@3.0.1", Type: "library", Licenses: []string{"Apache-2.0"}},
			{SBOM: sbom.ID, Name: "zlib"},
		},
	}
	globex := store.Evaluation{
		Evidence:    evidence.ArtifactEvidence{Image: w.globex, CollectedAt: t0, Evidence: []evidence.Evidence{}},
		Deployments: []evidence.Deployment{{Image: w.globex, Environment: "prod", Org: "globex", ObservedAt: t0}},
		Scores: []evidence.Score{{Image: w.globex, Environment: "prod", Org: "globex", Level: 0, Risk: 25,
			Gaps: []evidence.Gap{provMissing}, EvaluationID: "eval-globex-1", EvaluatedAt: t0}},
	}
	for _, ev := range []store.Evaluation{acme, globex} {
		if err := st.WriteEvaluation(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	gapEvent := func(img evidence.ImageRef, org, team string, g evidence.Gap, state string, at time.Time, eval string) store.GapEvent {
		return store.GapEvent{Fingerprint: event.GapFingerprint(img.Digest, "prod", g.Code), Image: img, Environment: "prod",
			Org: org, Team: team, Gap: g, State: state, At: at, EvaluationID: eval}
	}
	if err := st.WriteGapEvents(ctx, []store.GapEvent{
		gapEvent(w.acme, "acme", "core", provMissing, store.GapOpened, t0.Add(-2*time.Hour), "eval-acme-0"),
		gapEvent(w.acme, "acme", "core", provMissing, store.GapClosed, t0, "eval-acme-1"),
		gapEvent(w.acme, "acme", "core", sbomUnsigned, store.GapOpened, t0, "eval-acme-1"),
		gapEvent(w.globex, "globex", "", provMissing, store.GapOpened, t0, "eval-globex-1"),
	}); err != nil {
		t.Fatal(err)
	}
	// Acme accepts its open prod gap; another acme exception is there to be revoked.
	for _, e := range []struct {
		id   *string
		org  string
		code string
		team string
	}{{&w.acceptedID, "acme", sbomUnsigned.Code, "core"}, {&w.revocableExcID, "acme", "sbom.missing", "core"},
		{&w.globexExcID, "globex", provMissing.Code, ""}} {
		*e.id = store.NewExceptionID()
		c := store.ExceptionChange{At: t0, Actor: "cli:alice", Action: store.ExceptionCreated, Exception: store.Exception{
			ID: *e.id, Org: e.org, Code: e.code, Scope: store.ExceptionScope{Team: e.team, Environment: "prod"},
			Reason: "accepted for the spec", Owner: "alice@" + e.org + ".example", ExpiresAt: now.Add(24 * time.Hour),
			CreatedAt: t0, CreatedBy: "cli:alice", UpdatedAt: t0, Version: t0.UnixNano()}}
		if err := st.WriteExceptionChange(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RollupCoverage(ctx, now); err != nil {
		t.Fatal(err)
	}

	w.operator = newToken(t, st, auth.ScopeAdmin, "*", nil, nil)
	w.acmeAdmin = newToken(t, st, auth.ScopeAdmin, "acme", nil, nil)
	w.acmeWrite = newToken(t, st, auth.ScopeWrite, "acme", nil, nil)
	w.acmeRead = newToken(t, st, auth.ScopeRead, "acme", []string{"core"}, nil)
	w.acmeTwoTeams = newToken(t, st, auth.ScopeRead, "acme", []string{"core", "web"}, nil)
	w.limitedToken = newToken(t, st, auth.ScopeRead, "acme", nil, nil)
	w.revoked = newToken(t, st, auth.ScopeRead, "acme", nil, nil)
	for _, tok := range []struct {
		secret string
		id     *string
		org    string
		revoke bool
	}{{w.revoked, nil, "acme", true}, {newToken(t, st, auth.ScopeRead, "acme", nil, nil), &w.revocableID, "acme", false},
		{newToken(t, st, auth.ScopeRead, "globex", nil, nil), &w.globexTokID, "globex", false}} {
		rec, err := st.TokenByHash(ctx, auth.Hash(tok.secret))
		if err != nil {
			t.Fatal(err)
		}
		if tok.id != nil {
			*tok.id = rec.ID
		}
		if tok.revoke {
			rec.RevokedAt = &now
			if err := st.PutToken(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The service as it runs: Run connects to NATS, so /readyz answers 200.
	ns := bustest.Start(t)
	svc, err := api.New(api.Config{Bus: bus.Config{URL: ns.ClientURL()}, Listen: "127.0.0.1:0", MaxBodyBytes: 8 << 10,
		RateLimit: 1000, RateBurst: 1000}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("api.Run: %v", err)
		}
	})
	addrCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr, err := svc.Addr(addrCtx)
	if err != nil {
		t.Fatal(err)
	}
	w.main = "http://" + addr

	// A service that is not connected (so not ready) and whose bus refuses every message.
	down, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, MaxBodyBytes: 8 << 10}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	refuse := publisherFunc(func(context.Context, string, bus.Message) error { return errors.New("nats: no responders") })
	srv := httptest.NewServer(down.Handler(refuse))
	t.Cleanup(srv.Close)
	w.down = srv.URL

	// A service that allows each token one request and then one every 1000 seconds.
	limited, err := api.New(api.Config{Bus: bus.Config{URL: "nats://unused"}, RateLimit: 0.001, RateBurst: 1}, api.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(limited.Handler(refuse))
	t.Cleanup(srv.Close)
	w.limited = srv.URL
	return w
}

// specCase is one request of the conformance table.
type specCase struct {
	name   string
	server string // "" for the running service, "down" or "limited"
	token  string
	method string
	path   string
	ctype  string
	body   string
	header map[string]string
	// setup runs before the request, with the base URL it goes to; it may change the request.
	setup func(t *testing.T, base string, req *http.Request)
	want  int
	// code is the error code the answer must carry, for errors.
	code string
	// invalid says the document must reject the request too: what the server refuses with 400,
	// 401 or 415 because of its form, the document describes.
	invalid bool
}

func (w specWorld) cases() []specCase {
	a, g := string(w.acme.Digest), string(w.globex.Digest)
	unknown := string(digestOf("spec/nothing"))
	dep := func(img evidence.ImageRef, env, org string) string {
		return fmt.Sprintf(`{"image":%q,"environment":%q,"org":%q,"team":"core","cluster":"eu-1","namespace":"pay","workload":"api"}`,
			img.String(), env, org)
	}
	var many []string
	for range 100 {
		many = append(many, dep(w.acme, "prod", "acme"))
	}
	day := w.t0.Format(time.DateOnly)
	// primeOnce spends the token's one request of the limited server.
	primeOnce := func(t *testing.T, base string, req *http.Request) {
		t.Helper()
		r, _ := http.NewRequest("GET", base+"/v1/coverage", nil)
		r.Header.Set("Authorization", req.Header.Get("Authorization"))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("first request to the limited server: %d", resp.StatusCode)
		}
	}
	// sameETag sets If-None-Match to the ETag of the same request.
	sameETag := func(t *testing.T, base string, req *http.Request) {
		t.Helper()
		r, _ := http.NewRequest("GET", base+req.URL.RequestURI(), nil)
		r.Header.Set("Authorization", req.Header.Get("Authorization"))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
			t.Fatalf("getting the ETag: %d %q", resp.StatusCode, resp.Header.Get("ETag"))
		}
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	}
	return []specCase{
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "readyz", method: "GET", path: "/readyz", want: 200},
		{name: "readyz without NATS", server: "down", method: "GET", path: "/readyz", want: 503},
		{name: "metrics", method: "GET", path: "/metrics", want: 200},
		{name: "openapi.yaml", method: "GET", path: "/openapi.yaml", want: 200},

		{name: "coverage", token: w.acmeRead, method: "GET", path: "/v1/coverage", want: 200},
		{name: "coverage of prod, operator", token: w.operator, method: "GET", path: "/v1/coverage?env=prod&org=globex", want: 200},
		{name: "coverage without a token", method: "GET", path: "/v1/coverage", want: 401, code: "unauthenticated", invalid: true},
		{name: "coverage with an unknown token", token: "aspm_" + strings.Repeat("0", 64), method: "GET", path: "/v1/coverage", want: 401, code: "unauthenticated"},
		{name: "coverage with a revoked token", token: w.revoked, method: "GET", path: "/v1/coverage", want: 401, code: "unauthenticated"},
		{name: "coverage of another org", token: w.acmeRead, method: "GET", path: "/v1/coverage?org=globex", want: 403, code: "forbidden"},
		{name: "coverage, token of two teams", token: w.acmeTwoTeams, method: "GET", path: "/v1/coverage", want: 403, code: "forbidden"},
		{name: "coverage over the rate", server: "limited", token: w.limitedToken, method: "GET", path: "/v1/coverage",
			setup: primeOnce, want: 429, code: "rate_limited"},

		{name: "trend", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend", want: 200},
		{name: "trend by team", token: w.operator, method: "GET",
			path: "/v1/coverage/trend?by=team&from=" + day + "&to=" + w.t0.Add(24*time.Hour).Format(time.RFC3339) + "&org=acme&env=prod", want: 200},
		{name: "trend by an unknown grouping", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend?by=week", want: 400, code: "invalid_argument", invalid: true},
		{name: "trend from a non-date", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend?from=yesterday", want: 400, code: "invalid_argument", invalid: true},
		{name: "trend over two years", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend?from=2023-01-01&to=2025-01-01", want: 400, code: "invalid_argument"},
		{name: "trend backwards", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend?from=2025-02-01&to=2025-01-01", want: 400, code: "invalid_argument"},
		{name: "trend of another org", token: w.acmeRead, method: "GET", path: "/v1/coverage/trend?org=globex", want: 403, code: "forbidden"},

		{name: "artifacts", token: w.acmeRead, method: "GET", path: "/v1/artifacts", want: 200},
		{name: "artifacts, first page of one", token: w.operator, method: "GET", path: "/v1/artifacts?limit=1&ended=true", want: 200},
		{name: "artifacts filtered", token: w.acmeRead, method: "GET",
			path: "/v1/artifacts?env=prod&level=L2&gap=sbom.unsigned&repository=registry.example/acme/app", want: 200},
		{name: "artifacts of an unknown level", token: w.acmeRead, method: "GET", path: "/v1/artifacts?level=L7", want: 400, code: "invalid_argument", invalid: true},
		{name: "artifacts, limit 0", token: w.acmeRead, method: "GET", path: "/v1/artifacts?limit=0", want: 400, code: "invalid_argument", invalid: true},
		{name: "artifacts, limit 1001", token: w.acmeRead, method: "GET", path: "/v1/artifacts?limit=1001", want: 400, code: "invalid_argument", invalid: true},
		{name: "artifacts after a made-up cursor", token: w.acmeRead, method: "GET", path: "/v1/artifacts?after=nope", want: 400, code: "invalid_argument"},
		{name: "artifacts of another org", token: w.acmeRead, method: "GET", path: "/v1/artifacts?org=globex", want: 403, code: "forbidden"},

		{name: "artifact", token: w.acmeRead, method: "GET", path: "/v1/artifacts/" + a, want: 200},
		{name: "artifact, operator", token: w.operator, method: "GET", path: "/v1/artifacts/" + g, want: 200},
		{name: "artifact of another org", token: w.acmeRead, method: "GET", path: "/v1/artifacts/" + g, want: 404, code: "not_found"},
		{name: "artifact never seen", token: w.acmeRead, method: "GET", path: "/v1/artifacts/" + unknown, want: 404, code: "not_found"},
		{name: "artifact by a malformed digest", token: w.acmeRead, method: "GET", path: "/v1/artifacts/sha256:XYZ", want: 400, code: "invalid_argument", invalid: true},

		{name: "rescan", token: w.acmeWrite, method: "POST", path: "/v1/artifacts/" + a + ":rescan", want: 202},
		{name: "rescan with a read token", token: w.acmeRead, method: "POST", path: "/v1/artifacts/" + a + ":rescan", want: 403, code: "forbidden"},
		{name: "rescan of another org's artifact", token: w.acmeWrite, method: "POST", path: "/v1/artifacts/" + g + ":rescan", want: 404, code: "not_found"},
		{name: "rescan by a malformed digest", token: w.acmeWrite, method: "POST", path: "/v1/artifacts/sha256:XYZ:rescan", want: 400, code: "invalid_argument", invalid: true},
		{name: "rescan with the bus down", server: "down", token: w.acmeWrite, method: "POST", path: "/v1/artifacts/" + a + ":rescan", want: 503, code: "unavailable"},

		{name: "gaps", token: w.acmeRead, method: "GET", path: "/v1/gaps", want: 200},
		{name: "gaps, all states, filtered", token: w.operator, method: "GET",
			path: "/v1/gaps?state=all&env=prod&org=acme&team=core&code=provenance.missing&severity=high&limit=1", want: 200},
		{name: "closed gaps", token: w.acmeRead, method: "GET", path: "/v1/gaps?state=closed", want: 200},
		{name: "gaps not modified", token: w.acmeRead, method: "GET", path: "/v1/gaps?state=all", setup: sameETag, want: 304},
		{name: "gaps of an unknown state", token: w.acmeRead, method: "GET", path: "/v1/gaps?state=new", want: 400, code: "invalid_argument", invalid: true},
		{name: "gaps after a made-up cursor", token: w.acmeRead, method: "GET", path: "/v1/gaps?after=nope", want: 400, code: "invalid_argument"},
		{name: "gaps after a made-up cursor, if none match", token: w.acmeRead, method: "GET", path: "/v1/gaps?after=nope",
			header: map[string]string{"If-None-Match": "*"}, want: 400, code: "invalid_argument"},
		{name: "gaps of another team", token: w.acmeRead, method: "GET", path: "/v1/gaps?team=web", want: 403, code: "forbidden"},

		{name: "components by name", token: w.acmeRead, method: "GET", path: "/v1/components?name=openssl", want: 200},
		{name: "components by name and version", token: w.operator, method: "GET", path: "/v1/components?name=openssl&version=3.0.1&env=prod&limit=5", want: 200},
		{name: "components by purl", token: w.acmeRead, method: "GET", path: "/v1/components?purl=pkg:deb/debian/openssl@3.0.1", want: 200},
		{name: "component without a version", token: w.acmeRead, method: "GET", path: "/v1/components?name=zlib", want: 200},
		{name: "components, no question", token: w.acmeRead, method: "GET", path: "/v1/components", want: 400, code: "invalid_argument"},
		{name: "components by purl and name", token: w.acmeRead, method: "GET", path: "/v1/components?purl=pkg:deb/debian/openssl@3.0.1&name=openssl", want: 400, code: "invalid_argument"},
		{name: "components of another org", token: w.acmeRead, method: "GET", path: "/v1/components?name=openssl&org=globex", want: 403, code: "forbidden"},

		{name: "deployments", token: w.acmeRead, method: "GET", path: "/v1/deployments", want: 200},
		{name: "deployments, ended too", token: w.operator, method: "GET", path: "/v1/deployments?ended=true&limit=500&org=acme", want: 200},
		{name: "deployments, limit not a number", token: w.acmeRead, method: "GET", path: "/v1/deployments?limit=ten", want: 400, code: "invalid_argument", invalid: true},
		{name: "deployments of another org", token: w.acmeRead, method: "GET", path: "/v1/deployments?org=globex", want: 403, code: "forbidden"},

		{name: "push one deployment", token: w.acmeWrite, method: "POST", path: "/v1/deployments", body: dep(w.acme, "prod", "acme"), want: 202},
		{name: "push a list", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: `[` + dep(w.acme, "dev", "acme") + `,{"image":"` + w.acme.Repository + `:v1@` + a + `","environment":"dev","org":"acme","observed_at":"` + w.t0.Format(time.RFC3339) + `"}]`, want: 202},
		{name: "push with a read token", token: w.acmeRead, method: "POST", path: "/v1/deployments", body: dep(w.acme, "prod", "acme"), want: 403, code: "forbidden"},
		{name: "push for another org", token: w.acmeWrite, method: "POST", path: "/v1/deployments", body: dep(w.globex, "prod", "globex"), want: 403, code: "forbidden"},
		{name: "push a tag", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: `{"image":"registry.example/acme/app:v1","environment":"prod","org":"acme"}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "push an image without a registry", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: `{"image":"acme/app@` + a + `","environment":"prod","org":"acme"}`, want: 400, code: "invalid_argument"},
		{name: "push a bad environment", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: `{"image":"` + w.acme.String() + `","environment":"prod env","org":"acme"}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "push an unknown field", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: `{"image":"` + w.acme.String() + `","environment":"prod","org":"acme","region":"eu"}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "push an empty list", token: w.acmeWrite, method: "POST", path: "/v1/deployments", body: `[]`, want: 400, code: "invalid_argument", invalid: true},
		{name: "push text", token: w.acmeWrite, method: "POST", path: "/v1/deployments", ctype: "text/plain",
			body: dep(w.acme, "prod", "acme"), want: 415, code: "unsupported_media_type", invalid: true},
		{name: "push too much", token: w.acmeWrite, method: "POST", path: "/v1/deployments", body: "[" + strings.Join(many, ",") + "]",
			want: 413, code: "payload_too_large"},
		{name: "push with the bus down", server: "down", token: w.acmeWrite, method: "POST", path: "/v1/deployments",
			body: dep(w.acme, "prod", "acme"), want: 503, code: "unavailable"},

		{name: "create a token", token: w.acmeAdmin, method: "POST", path: "/v1/tokens",
			body: `{"name":"ci","scopes":["read"],"teams":["core"],"environments":["prod"],"ttl":"24h"}`, want: 201},
		{name: "create an operator token", token: w.operator, method: "POST", path: "/v1/tokens", body: `{"name":"ops","scopes":["admin"],"org":"*"}`, want: 201},
		{name: "create a token with a write token", token: w.acmeWrite, method: "POST", path: "/v1/tokens", body: `{"scopes":["read"]}`, want: 403, code: "forbidden"},
		{name: "create a token for another org", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":["read"],"org":"globex"}`, want: 403, code: "forbidden"},
		{name: "create a token of no scope", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":[]}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "create a token of an unknown scope", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":["root"]}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "create a token with a negative ttl", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":["read"],"ttl":"-1h"}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "create a token living past 2105", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":["read"],"ttl":"900000h"}`, want: 400, code: "invalid_argument"},
		{name: "create a token with an unknown field", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", body: `{"scopes":["read"],"admin":true}`, want: 400, code: "invalid_argument", invalid: true},
		{name: "create a token from text", token: w.acmeAdmin, method: "POST", path: "/v1/tokens", ctype: "text/plain", body: `{"scopes":["read"]}`, want: 415, code: "unsupported_media_type", invalid: true},
		{name: "create a token with a long name", token: w.acmeAdmin, method: "POST", path: "/v1/tokens",
			body: `{"scopes":["read"],"name":"` + strings.Repeat("x", 9<<10) + `"}`, want: 413, code: "payload_too_large"},

		{name: "list tokens", token: w.acmeAdmin, method: "GET", path: "/v1/tokens", want: 200},
		{name: "list tokens, operator", token: w.operator, method: "GET", path: "/v1/tokens", want: 200},
		{name: "list tokens with a read token", token: w.acmeRead, method: "GET", path: "/v1/tokens", want: 403, code: "forbidden"},

		{name: "revoke a token", token: w.acmeAdmin, method: "POST", path: "/v1/tokens/" + w.revocableID + ":revoke", want: 200},
		{name: "revoke another org's token", token: w.acmeAdmin, method: "POST", path: "/v1/tokens/" + w.globexTokID + ":revoke", want: 404, code: "not_found"},
		{name: "revoke an unknown token", token: w.acmeAdmin, method: "POST", path: "/v1/tokens/tok_000000000000:revoke", want: 404, code: "not_found"},
		{name: "revoke a malformed id", token: w.acmeAdmin, method: "POST", path: "/v1/tokens/nope:revoke", want: 404, code: "not_found", invalid: true},
		{name: "revoke with a write token", token: w.acmeWrite, method: "POST", path: "/v1/tokens/" + w.revocableID + ":revoke", want: 403, code: "forbidden"},

		{name: "list exceptions", token: w.acmeRead, method: "GET", path: "/v1/exceptions", want: 200},
		{name: "list exceptions, all states", token: w.acmeRead, method: "GET", path: "/v1/exceptions?state=all&code=sbom.unsigned", want: 200},
		{name: "list exceptions, unknown state", token: w.acmeRead, method: "GET", path: "/v1/exceptions?state=lapsed", want: 400, code: "invalid_argument", invalid: true},
		{name: "list another org's exceptions", token: w.acmeRead, method: "GET", path: "/v1/exceptions?org=globex", want: 403, code: "forbidden"},
		{name: "exception audit", token: w.acmeRead, method: "GET", path: "/v1/exceptions/audit", want: 200},
		{name: "get an exception", token: w.acmeRead, method: "GET", path: "/v1/exceptions/" + w.acceptedID, want: 200},
		{name: "get another org's exception", token: w.acmeRead, method: "GET", path: "/v1/exceptions/" + w.globexExcID, want: 404, code: "not_found"},
		{name: "create an exception", token: w.acmeWrite, method: "POST", path: "/v1/exceptions", want: 201,
			body: `{"code":"sbom.missing","scope":{"repository":"registry.example/acme/*"},"reason":"r","owner":"o","ttl":"30d"}`},
		{name: "create an exception without an expiry", token: w.acmeWrite, method: "POST", path: "/v1/exceptions", want: 400, code: "invalid_argument",
			body: `{"code":"sbom.missing","scope":{"team":"core"},"reason":"r","owner":"o"}`},
		{name: "create an exception without a scope field", token: w.acmeWrite, method: "POST", path: "/v1/exceptions", want: 400, code: "invalid_argument",
			body: `{"code":"sbom.missing","reason":"r","owner":"o","ttl":"1d"}`, invalid: true},
		{name: "create an exception with a read token", token: w.acmeRead, method: "POST", path: "/v1/exceptions", want: 403, code: "forbidden",
			body: `{"code":"sbom.missing","scope":{"team":"core"},"reason":"r","owner":"o","ttl":"1d"}`},
		{name: "renew an exception", token: w.acmeWrite, method: "POST", path: "/v1/exceptions/" + w.acceptedID + ":update", want: 200,
			body: `{"ttl":"60d","comment":"renewed"}`},
		{name: "revoke an exception", token: w.acmeWrite, method: "POST", path: "/v1/exceptions/" + w.revocableExcID + ":revoke", want: 200,
			body: `{"comment":"fixed"}`},
		{name: "renew a revoked exception", token: w.acmeWrite, method: "POST", path: "/v1/exceptions/" + w.revocableExcID + ":update", want: 409, code: "conflict",
			body: `{"ttl":"1d"}`, setup: func(t *testing.T, base string, req *http.Request) {
				t.Helper()
				r, _ := http.NewRequest("POST", base+"/v1/exceptions/"+w.revocableExcID+":revoke", strings.NewReader(`{}`))
				r.Header.Set("Authorization", req.Header.Get("Authorization"))
				r.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}},
		{name: "revoke another org's exception", token: w.acmeWrite, method: "POST", path: "/v1/exceptions/" + w.globexExcID + ":revoke", want: 404, code: "not_found",
			body: `{}`},

		{name: "notification dead letters", token: w.acmeAdmin, method: "GET", path: "/v1/notifications/dead-letters?limit=10", want: 200},
		{name: "notification dead letters with a write token", token: w.acmeWrite, method: "GET", path: "/v1/notifications/dead-letters", want: 403, code: "forbidden"},
		{name: "notification dead letters, limit 0", token: w.acmeAdmin, method: "GET", path: "/v1/notifications/dead-letters?limit=0", want: 400, code: "invalid_argument", invalid: true},

		{name: "SSDF report", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf", want: 200},
		{name: "SSDF report as HTML", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?format=html&from=2025-01-01&to=2025-02-01", want: 200},
		{name: "SSDF report as CSV", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?format=csv", want: 200},
		{name: "SSDF report as OSCAL assessment results", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?format=oscal-ar", want: 200},
		{name: "FedRAMP report", token: w.acmeRead, method: "GET", path: "/v1/reports/fedramp?to=2030-01-01T00:00:00Z", want: 200},
		{name: "FedRAMP report as an OSCAL assessment plan", token: w.operator, method: "GET", path: "/v1/reports/fedramp?format=oscal-ap&org=acme", want: 200},
		{name: "FedRAMP report as an OSCAL POA&M", token: w.acmeRead, method: "GET", path: "/v1/reports/fedramp?format=oscal-poam", want: 200},
		{name: "FedRAMP report of another org", token: w.acmeRead, method: "GET", path: "/v1/reports/fedramp?org=globex", want: 403, code: "forbidden"},
		{name: "SSDF report of every org", token: w.operator, method: "GET", path: "/v1/reports/ssdf", want: 400, code: "invalid_argument"},
		{name: "SSDF report in an unknown format", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?format=pdf", want: 400, code: "invalid_argument", invalid: true},
		{name: "SSDF report with a bad window", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?from=yesterday", want: 400, code: "invalid_argument", invalid: true},
		{name: "SSDF report with from after to", token: w.acmeRead, method: "GET", path: "/v1/reports/ssdf?from=2025-03-01&to=2025-02-01", want: 400, code: "invalid_argument"},
	}
}

// TestOpenAPI drives the real service with a table of requests that together call every
// operation of openapi.yaml and most of its error answers, and validates each request and
// answer against the document: an undocumented status, a missing or misnamed field, an
// undocumented field, a wrong type or a missing required header fails it. The document must
// also reject exactly the requests the table marks as malformed.
func TestOpenAPI(t *testing.T) {
	s := mustLoadSpec(t)
	w := mustSpecWorld(t)
	servers := map[string]string{"": w.main, "down": w.down, "limited": w.limited}
	succeeded := map[string]bool{}
	for _, tc := range w.cases() {
		t.Run(tc.name, func(t *testing.T) {
			base := servers[tc.server]
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", cmp.Or(tc.ctype, "application/json"))
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.setup != nil {
				tc.setup(t, base, req)
			}
			ex := s.mustExchange(t, base, req, []byte(tc.body))
			switch {
			case tc.invalid && ex.requestErr == nil:
				t.Errorf("the document accepts this request, which the server refuses with %d", ex.status)
			case !tc.invalid && ex.requestErr != nil:
				t.Errorf("the document rejects this request: %v", ex.requestErr)
			}
			if ex.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", ex.status, tc.want, ex.body)
			}
			if tc.code != "" {
				var e struct {
					Error struct{ Code string }
				}
				if err := json.Unmarshal(ex.body, &e); err != nil || e.Error.Code != tc.code {
					t.Errorf("error code %q (%v), want %q; body %s", e.Error.Code, err, tc.code, ex.body)
				}
			}
			if ex.status >= 200 && ex.status < 300 {
				succeeded[ex.op] = true
			}
			if tc.path == "/openapi.yaml" {
				want, err := os.ReadFile("openapi.yaml")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(ex.body, want) {
					t.Errorf("GET /openapi.yaml does not serve openapi.yaml")
				}
			}
		})
	}
	for op := range s.operations() {
		if !succeeded[op] {
			t.Errorf("no request of the table got a 2xx answer from %s", op)
		}
	}
}

// TestOpenAPIScopes checks the scope each operation documents: public operations are exactly
// those outside /v1, every /v1 operation names the scope it needs, and a token of the scope
// below it is refused with 403.
func TestOpenAPIScopes(t *testing.T) {
	s := mustLoadSpec(t)
	w := mustSpecWorld(t)
	below := map[string]string{"write": w.acmeRead, "admin": w.acmeWrite}
	for name, op := range s.operations() {
		method, path, _ := strings.Cut(name, " ")
		public := op.Security != nil && len(*op.Security) == 0
		if public == strings.HasPrefix(path, "/v1/") {
			t.Errorf("%s: public is %v; want only the operations outside /v1 public", name, public)
		}
		if public {
			continue
		}
		scope, _ := op.Extensions["x-aspm-scope"].(string)
		if _, err := auth.ParseScope(scope); err != nil {
			t.Errorf("%s: x-aspm-scope: %v", name, err)
			continue
		}
		tok, ok := below[scope]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(method, w.main+exampleURL(t, path, op), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			if ex := s.mustExchange(t, w.main, req, nil); ex.status != http.StatusForbidden {
				t.Errorf("a token below %s scope: %d, want 403; body %s", scope, ex.status, ex.body)
			}
		})
	}
}

// routeRecorder is a ServeMux that records the patterns registered on it.
type routeRecorder struct {
	*http.ServeMux
	patterns []string
}

func (r *routeRecorder) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	r.patterns = append(r.patterns, pattern)
	r.ServeMux.HandleFunc(pattern, h)
}

// TestOpenAPIRoutes checks that the document and the API's routes match both ways: the example
// request of every /v1 operation of the document is routed by the API's own mux to one of its
// routes, and every route the API registers is reached by an operation of the document.
func TestOpenAPIRoutes(t *testing.T) {
	s := mustLoadSpec(t)
	rec := &routeRecorder{ServeMux: http.NewServeMux()}
	(&httpapi.API{}).Register(rec)
	if len(rec.patterns) == 0 {
		t.Fatal("Register registered no route")
	}
	reached := map[string]bool{}
	for name, op := range s.operations() {
		method, path, _ := strings.Cut(name, " ")
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		_, pattern := rec.Handler(httptest.NewRequest(method, exampleURL(t, path, op), nil))
		if !slices.Contains(rec.patterns, pattern) {
			t.Errorf("%s: the API has no route for it (the mux answers %q)", name, pattern)
			continue
		}
		reached[pattern] = true
	}
	for _, p := range rec.patterns {
		if !reached[p] {
			t.Errorf("the API serves %q, which openapi.yaml does not document", p)
		}
	}
}
