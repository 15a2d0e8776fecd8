package github_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/snappy"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/github"
	"github.com/aspmhq/aspm/pkg/provenance"
	"github.com/aspmhq/aspm/pkg/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// start is the fake clock's start; rate limit resets are counted from it.
var start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a clock whose sleeps return at once, advancing it, and are recorded.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// setup starts a replay and a client of it on a fake clock. A cfg.BaseURL starting with "/"
// is a path on the replay; cfg.Token is the token the replay accepts.
func setup(t *testing.T, cfg github.Config) (*replay, *github.Client, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: start}
	r := newReplay(t, clk.Now)
	r.set(func(r *replay) { r.token = cfg.Token })
	if cfg.BaseURL == "" || strings.HasPrefix(cfg.BaseURL, "/") {
		cfg.BaseURL = r.api.URL + cfg.BaseURL
	}
	c := MustNew(t, cfg)
	github.SetClock(c, clk.Now, clk.Sleep)
	return r, c, clk
}

// MustNew returns a client for cfg.
func MustNew(tb testing.TB, cfg github.Config) *github.Client {
	tb.Helper()
	c, err := github.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// row is what a test checks of an Attestation: its repository, which corpus bundle it holds,
// whether it has a bundle_url, and the class of its Err.
type row struct {
	Repo   int64
	Bundle string
	Linked bool
	Err    string
}

func rows(r *replay, atts []github.Attestation) []row {
	out := []row{}
	for _, a := range atts {
		out = append(out, row{Repo: a.RepositoryID, Bundle: r.name(a.Bundle), Linked: a.BundleURL != "", Err: class(a.Err)})
	}
	return out
}

// class names the error class of err.
func class(err error) string {
	var ae *github.APIError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, github.ErrRateLimited):
		return "rate limited"
	case errors.Is(err, github.ErrTooLarge):
		return "too large"
	case errors.Is(err, github.ErrMalformedResponse):
		return "malformed"
	case errors.Is(err, github.ErrTooManyPages):
		return "too many pages"
	case errors.As(err, &ae):
		return "API " + strconv.Itoa(ae.Status)
	}
	return "other: " + err.Error()
}

const (
	moduleBazelFile    = "slsa-verifier/bcr/MODULE.bazel.intoto.jsonl"
	wrongSignerFile    = "slsa-verifier/bcr/MODULE-wrong-signer.bazel.intoto.jsonl"
	rulesLintFile      = "slsa-verifier/bcr/rules_lint-v1.3.1.tar.gz.intoto.jsonl"
	provenanceDemoFile = "sigstore/github-cli/github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl"
	happyPathFile      = "sigstore/conformance/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json"
	rekor2File         = "sigstore/conformance/bundle-verify/rekor2-dsse-happy-path/bundle.sigstore.json"
	invalidSigFile     = "sigstore/conformance/bundle-verify/dsse-invalid-sig_fail/bundle.sigstore.json"
)

// conformanceRows are the three attestations of conformanceTxt, in the replay's order.
var conformanceRows = []row{
	{Repo: 1006, Bundle: happyPathFile, Linked: true},
	{Repo: 1006, Bundle: rekor2File, Linked: true},
	{Repo: 1006, Bundle: invalidSigFile, Linked: true},
}

// checkTraffic checks the client waited wantSlept and made wantReqs API requests.
func checkTraffic(t *testing.T, r *replay, clk *fakeClock, wantSlept []time.Duration, wantReqs int) {
	t.Helper()
	if diff := cmp.Diff(wantSlept, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n := len(r.apiRequests()); n != wantReqs {
		t.Errorf("%d requests, want %d", n, wantReqs)
	}
}

func org(name string, d evidence.Digest, predicateType string) func(context.Context, *github.Client) ([]github.Attestation, error) {
	return func(ctx context.Context, c *github.Client) ([]github.Attestation, error) {
		return c.OrgAttestations(ctx, name, d, predicateType)
	}
}

func repo(owner, name string, d evidence.Digest, predicateType string) func(context.Context, *github.Client) ([]github.Attestation, error) {
	return func(ctx context.Context, c *github.Client) ([]github.Attestation, error) {
		return c.RepoAttestations(ctx, owner, name, d, predicateType)
	}
}

// TestRequests checks what the client sends: the documented path, headers and query.
func TestRequests(t *testing.T) {
	type sent struct {
		Path, Query, Auth, Accept, Version string
	}
	tests := []struct {
		name string
		cfg  github.Config
		call func(context.Context, *github.Client) ([]github.Attestation, error)
		want sent
	}{
		{
			name: "org with token",
			cfg:  github.Config{Token: "ghp_token1"},
			call: org("aspect-build", rulesLint, ""),
			want: sent{Path: "/orgs/aspect-build/attestations/" + string(rulesLint), Query: "per_page=100", Auth: "Bearer ghp_token1"},
		},
		{
			name: "repo without token",
			call: repo("aspect-build", "rules_lint", rulesLint, ""),
			want: sent{Path: "/repos/aspect-build/rules_lint/attestations/" + string(rulesLint), Query: "per_page=100"},
		},
		{
			name: "predicate type and page size",
			cfg:  github.Config{PerPage: 7},
			call: org("aspect-build", rulesLint, slsaV1),
			want: sent{Path: "/orgs/aspect-build/attestations/" + string(rulesLint), Query: "per_page=7&predicate_type=https%3A%2F%2Fslsa.dev%2Fprovenance%2Fv1"},
		},
		{
			name: "GitHub Enterprise Server",
			cfg:  github.Config{BaseURL: "/api/v3/", Token: "ghp_token2"},
			call: repo("aspect-build", "rules_lint", rulesLint, ""),
			want: sent{Path: "/api/v3/repos/aspect-build/rules_lint/attestations/" + string(rulesLint), Query: "per_page=100", Auth: "Bearer ghp_token2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := setup(t, tc.cfg)
			atts, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]row{{Repo: 1001, Bundle: rulesLintFile, Linked: true}}, rows(r, atts)); diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
			reqs := r.apiRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			u, err := url.ParseRequestURI(reqs[0].RequestURI)
			if err != nil {
				t.Fatal(err)
			}
			h := reqs[0].Header
			got := sent{Path: u.Path, Query: u.RawQuery, Auth: h.Get("Authorization"), Accept: h.Get("Accept"), Version: h.Get("X-GitHub-Api-Version")}
			tc.want.Accept, tc.want.Version = "application/vnd.github+json", "2022-11-28"
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListing checks which attestations the endpoints return, and that none is no error.
func TestListing(t *testing.T) {
	tests := []struct {
		name string
		call func(context.Context, *github.Client) ([]github.Attestation, error)
		want []row
	}{
		{name: "org", call: org("aspect-build", moduleBazel, ""), want: []row{{Repo: 1001, Bundle: moduleBazelFile, Linked: true}}},
		{name: "same digest, other org", call: org("loosebazooka", moduleBazel, ""), want: []row{{Repo: 1002, Bundle: wrongSignerFile, Linked: true}}},
		{name: "org names are case-insensitive", call: org("Aspect-Build", rulesLint, ""), want: []row{{Repo: 1001, Bundle: rulesLintFile, Linked: true}}},
		{name: "repo", call: repo("aspect-build", "rules_lint", moduleBazel, ""), want: []row{{Repo: 1001, Bundle: moduleBazelFile, Linked: true}}},
		{name: "other repo: none", call: repo("aspect-build", "rules_go", moduleBazel, ""), want: []row{}},
		{name: "unknown digest: none", call: org("aspect-build", unknownDigest, ""), want: []row{}},
		{name: "predicate type matches", call: org("aspect-build", moduleBazel, slsaV1), want: []row{{Repo: 1001, Bundle: moduleBazelFile, Linked: true}}},
		{name: "predicate type filters", call: org("aspect-build", moduleBazel, "https://spdx.dev/Document/v2.3"), want: []row{}},
		{name: "bundle_url only", call: org("actions", provenanceDemo, ""), want: []row{{Repo: 1005, Bundle: provenanceDemoFile, Linked: true}}},
		{name: "one page of three", call: org("sigstore-conformance", conformanceTxt, ""), want: conformanceRows},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := setup(t, github.Config{})
			atts, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, rows(r, atts)); diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPagination follows Link headers over three pages, fetching bundle_urls on the way
// without sending the token to the blob store.
func TestPagination(t *testing.T) {
	r, c, clk := setup(t, github.Config{Token: "ghp_pages", PerPage: 1})
	atts, err := c.RepoAttestations(t.Context(), "sigstore-conformance", "extremely-dangerous-public-oidc-beacon", conformanceTxt, slsaV1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(conformanceRows, rows(r, atts)); diff != "" {
		t.Errorf("attestations (-want +got):\n%s", diff)
	}
	type sent struct{ After, PerPage, PredicateType, Auth string }
	var got []sent
	for _, req := range r.apiRequests() {
		q := req.URL.Query()
		got = append(got, sent{q.Get("after"), q.Get("per_page"), q.Get("predicate_type"), req.Header.Get("Authorization")})
	}
	want := []sent{
		{"", "1", slsaV1, "Bearer ghp_pages"},
		{cursor(1), "1", slsaV1, "Bearer ghp_pages"},
		{cursor(2), "1", slsaV1, "Bearer ghp_pages"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	blobs := r.blobRequests()
	if len(blobs) != 2 {
		t.Errorf("%d bundle_url requests, want 2 (the inline bundle needs none)", len(blobs))
	}
	for _, b := range blobs {
		if a := b.Header.Get("Authorization"); a != "" {
			t.Errorf("the token was sent to the blob store: %q", a)
		}
	}
	if s := clk.Slept(); len(s) != 0 {
		t.Errorf("slept %v, want no waits", s)
	}
}

// TestTooManyPages stops at MaxPages, returning what it read.
func TestTooManyPages(t *testing.T) {
	r, c, _ := setup(t, github.Config{PerPage: 1, MaxPages: 2})
	atts, err := c.OrgAttestations(t.Context(), "sigstore-conformance", conformanceTxt, "")
	if !errors.Is(err, github.ErrTooManyPages) {
		t.Fatalf("err = %v, want ErrTooManyPages", err)
	}
	if diff := cmp.Diff(conformanceRows[:2], rows(r, atts)); diff != "" {
		t.Errorf("attestations (-want +got):\n%s", diff)
	}
	if n := len(r.apiRequests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// primaryLimit answers as GitHub does when the primary rate limit is used up.
func primaryLimit(reset time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Used", "5000")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		writeError(w, http.StatusForbidden,
			"API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
			"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
	}
}

// secondaryLimit answers as GitHub does for a secondary rate limit; retryAfter may be empty.
func secondaryLimit(status int, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeError(w, status,
			"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0400:3A5F:1C2D3E:4F5A6B:6650A1B2.",
			"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
	}
}

// TestRateLimits waits as GitHub's headers say, then succeeds.
func TestRateLimits(t *testing.T) {
	tests := []struct {
		name      string
		script    []http.HandlerFunc
		rate      func(n int) (int, time.Time)
		wantSlept []time.Duration
		wantReqs  int
	}{
		{name: "primary: until X-RateLimit-Reset", script: []http.HandlerFunc{primaryLimit(start.Add(30 * time.Second))}, wantSlept: []time.Duration{30 * time.Second}, wantReqs: 4},
		{name: "secondary 403: Retry-After", script: []http.HandlerFunc{secondaryLimit(http.StatusForbidden, "5")}, wantSlept: []time.Duration{5 * time.Second}, wantReqs: 4},
		{name: "secondary 429: Retry-After", script: []http.HandlerFunc{secondaryLimit(http.StatusTooManyRequests, "2")}, wantSlept: []time.Duration{2 * time.Second}, wantReqs: 4},
		{name: "429 naming no time: a minute", script: []http.HandlerFunc{secondaryLimit(http.StatusTooManyRequests, "")}, wantSlept: []time.Duration{time.Minute}, wantReqs: 4},
		{name: "reset already past: a second", script: []http.HandlerFunc{primaryLimit(start.Add(-time.Minute))}, wantSlept: []time.Duration{time.Second}, wantReqs: 4},
		{
			name: "a page says none remain: wait before the next",
			rate: func(n int) (int, time.Time) {
				if n == 0 {
					return 0, start.Add(20 * time.Second)
				}
				return 5000 - n, start.Add(time.Hour)
			},
			wantSlept: []time.Duration{20 * time.Second},
			wantReqs:  3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, clk := setup(t, github.Config{PerPage: 1})
			r.then(tc.script...)
			r.set(func(r *replay) { r.rate = tc.rate })
			atts, err := c.OrgAttestations(t.Context(), "sigstore-conformance", conformanceTxt, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(conformanceRows, rows(r, atts)); diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
			checkTraffic(t, r, clk, tc.wantSlept, tc.wantReqs)
		})
	}
}

// TestRateLimitGivesUp returns ErrRateLimited, saying when the limit resets, rather than
// wait beyond MaxWait or keep retrying.
func TestRateLimitGivesUp(t *testing.T) {
	rateLimited := &github.APIError{Status: 403,
		Message:          "API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
	secondary := &github.APIError{Status: 403,
		Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0400:3A5F:1C2D3E:4F5A6B:6650A1B2.",
		DocumentationURL: "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}
	tests := []struct {
		name      string
		maxWait   time.Duration
		script    []http.HandlerFunc
		rate      func(n int) (int, time.Time)
		want      github.RateLimitError
		wantText  string
		wantSlept []time.Duration
		wantReqs  int
	}{
		{
			name:     "reset beyond MaxWait",
			script:   []http.HandlerFunc{primaryLimit(start.Add(time.Hour))},
			want:     github.RateLimitError{Until: start.Add(time.Hour), Wait: time.Hour, API: rateLimited},
			wantText: "until 2025-06-01T13:00:00Z",
			wantReqs: 1,
		},
		{
			name:     "waiting disabled",
			maxWait:  -1,
			script:   []http.HandlerFunc{secondaryLimit(http.StatusForbidden, "1")},
			want:     github.RateLimitError{Until: start.Add(time.Second), Wait: time.Second, API: secondary},
			wantText: "until 2025-06-01T12:00:01Z",
			wantReqs: 1,
		},
		{
			name: "limited again and again",
			script: []http.HandlerFunc{
				secondaryLimit(http.StatusForbidden, "1"), secondaryLimit(http.StatusForbidden, "1"),
				secondaryLimit(http.StatusForbidden, "1"), secondaryLimit(http.StatusForbidden, "1"),
			},
			want:      github.RateLimitError{Until: start.Add(4 * time.Second), Wait: time.Second, API: secondary},
			wantText:  "until 2025-06-01T12:00:04Z",
			wantSlept: []time.Duration{time.Second, time.Second, time.Second},
			wantReqs:  4,
		},
		{
			name:     "a page says none remain until beyond MaxWait",
			rate:     func(int) (int, time.Time) { return 0, start.Add(2 * time.Hour) },
			want:     github.RateLimitError{Until: start.Add(2 * time.Hour), Wait: 2 * time.Hour},
			wantText: "until 2025-06-01T14:00:00Z",
			wantReqs: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, clk := setup(t, github.Config{PerPage: 1, MaxWait: tc.maxWait})
			r.then(tc.script...)
			r.set(func(r *replay) { r.rate = tc.rate })
			atts, err := c.OrgAttestations(t.Context(), "sigstore-conformance", conformanceTxt, "")
			if !errors.Is(err, github.ErrRateLimited) {
				t.Fatalf("err = %v, want ErrRateLimited", err)
			}
			var rle *github.RateLimitError
			if !errors.As(err, &rle) {
				t.Fatalf("err = %T, want a *RateLimitError", err)
			}
			if diff := cmp.Diff(tc.want, *rle); diff != "" {
				t.Errorf("rate limit error (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if atts != nil {
				t.Errorf("attestations = %v, want none", atts)
			}
			checkTraffic(t, r, clk, tc.wantSlept, tc.wantReqs)
		})
	}
}

func serverError(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, status, http.StatusText(status), "")
	}
}

// dropConnection closes the connection without answering.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestServerErrors retries server and network errors with back-off, a bounded number of
// times.
func TestServerErrors(t *testing.T) {
	tests := []struct {
		name      string
		script    []http.HandlerFunc
		want      string
		wantSlept []time.Duration
		wantReqs  int
	}{
		{name: "500 then 200", script: []http.HandlerFunc{serverError(500)}, wantSlept: []time.Duration{time.Second}, wantReqs: 2},
		{name: "502, 503 then 200", script: []http.HandlerFunc{serverError(502), serverError(503)}, wantSlept: []time.Duration{time.Second, 2 * time.Second}, wantReqs: 3},
		{name: "connection dropped then 200", script: []http.HandlerFunc{dropConnection}, wantSlept: []time.Duration{time.Second}, wantReqs: 2},
		{name: "500 three times", script: []http.HandlerFunc{serverError(500), serverError(500), serverError(500)}, want: "API 500", wantSlept: []time.Duration{time.Second, 2 * time.Second}, wantReqs: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No keep-alive: a dropped connection is then not retried by the transport itself.
			r, c, clk := setup(t, github.Config{HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
			r.then(tc.script...)
			atts, err := c.OrgAttestations(t.Context(), "aspect-build", rulesLint, "")
			if got := class(err); got != tc.want {
				t.Fatalf("error %v: class %q, want %q", err, got, tc.want)
			}
			if err == nil {
				if diff := cmp.Diff([]row{{Repo: 1001, Bundle: rulesLintFile, Linked: true}}, rows(r, atts)); diff != "" {
					t.Errorf("attestations (-want +got):\n%s", diff)
				}
			}
			checkTraffic(t, r, clk, tc.wantSlept, tc.wantReqs)
		})
	}
}

// TestAPIErrors reads GitHub's error bodies into *APIError, and never prints the token.
func TestAPIErrors(t *testing.T) {
	const token = "ghp_wrongTokenValue123"
	tests := []struct {
		name   string
		script []http.HandlerFunc
		want   github.APIError
	}{
		{name: "401 bad credentials", want: github.APIError{Status: 401, Message: "Bad credentials", DocumentationURL: "https://docs.github.com/rest"}},
		{
			name: "403 not a rate limit",
			script: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				writeError(w, http.StatusForbidden,
					"Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.",
					"https://docs.github.com/articles/authenticating-to-a-github-organization-with-saml-single-sign-on")
			}},
			want: github.APIError{Status: 403,
				Message:          "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.",
				DocumentationURL: "https://docs.github.com/articles/authenticating-to-a-github-organization-with-saml-single-sign-on"},
		},
		{
			name: "error without a JSON body",
			script: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte("<html><body>400 Bad Request</body></html>"))
			}},
			want: github.APIError{Status: 400, Message: "Bad Request"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, clk := setup(t, github.Config{Token: token})
			r.set(func(r *replay) { r.token = "ghp_theRightOne" })
			r.then(tc.script...)
			atts, err := c.OrgAttestations(t.Context(), "aspect-build", rulesLint, "")
			var ae *github.APIError
			if !errors.As(err, &ae) || !errors.Is(err, github.ErrAPI) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if diff := cmp.Diff(tc.want, *ae); diff != "" {
				t.Errorf("API error (-want +got):\n%s", diff)
			}
			if errors.Is(err, github.ErrRateLimited) {
				t.Errorf("err = %v is not a rate limit", err)
			}
			if !strings.Contains(err.Error(), tc.want.Message) || strings.Contains(err.Error(), token) {
				t.Errorf("error %q: want GitHub's message and no token", err)
			}
			if atts != nil || len(clk.Slept()) != 0 || len(r.apiRequests()) != 1 {
				t.Errorf("attestations %v, waits %v, %d requests: want none, none, 1", atts, clk.Slept(), len(r.apiRequests()))
			}
		})
	}
}

// TestOversized refuses responses and bundles beyond MaxResponseBytes, without retrying.
func TestOversized(t *testing.T) {
	const limit = 64 << 10
	big := bytes.Repeat([]byte(" "), limit+1)
	tests := []struct {
		name       string
		call       func(context.Context, *github.Client) ([]github.Attestation, error)
		script     []http.HandlerFunc
		blobScript []http.HandlerFunc
		wantErr    string
		want       []row
	}{
		{
			name: "page with Content-Length",
			call: org("aspect-build", rulesLint, ""),
			script: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				_, _ = w.Write(big)
			}},
			wantErr: "too large",
		},
		{
			name: "streamed page",
			call: org("aspect-build", rulesLint, ""),
			script: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				for range 8 {
					_, _ = w.Write(big[:limit/4])
					w.(http.Flusher).Flush()
				}
			}},
			wantErr: "too large",
		},
		{
			name: "bundle_url body",
			call: org("actions", provenanceDemo, ""),
			blobScript: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(big)
			}},
			want: []row{{Repo: 1005, Linked: true, Err: "too large"}},
		},
		{
			name: "bundle_url decompressing beyond the limit",
			call: org("actions", provenanceDemo, ""),
			blobScript: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write(snappy.Encode(nil, bytes.Repeat([]byte("{"), 1<<20)))
			}},
			want: []row{{Repo: 1005, Linked: true, Err: "too large"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, clk := setup(t, github.Config{MaxResponseBytes: limit})
			r.then(tc.script...)
			r.set(func(r *replay) { r.blobScript = tc.blobScript })
			atts, err := tc.call(t.Context(), c)
			if got := class(err); got != tc.wantErr {
				t.Fatalf("error %v: class %q, want %q", err, got, tc.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, rows(r, atts)); diff != "" {
					t.Errorf("attestations (-want +got):\n%s", diff)
				}
			}
			if len(clk.Slept()) != 0 || len(r.apiRequests()) != 1 || len(r.blobRequests()) > 1 {
				t.Errorf("waits %v, %d requests, %d bundle requests: want none, 1, at most 1",
					clk.Slept(), len(r.apiRequests()), len(r.blobRequests()))
			}
		})
	}
}

// TestBundleURL reads bundles GitHub only links to: snappy-compressed or plain JSON, and
// reports one it cannot read in its Attestation, never with the URL's signature.
func TestBundleURL(t *testing.T) {
	writeBlob := func(status int, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}
	}
	writePage := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	notFound := []byte(`<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code></Error>`)
	demo := func(t *testing.T) []byte { return readBundle(t, provenanceDemoFile) }
	tests := []struct {
		name       string
		script     []http.HandlerFunc
		blobScript func(t *testing.T) []http.HandlerFunc
		wantErr    string
		want       []row
		wantBlobs  int
	}{
		{name: "snappy-compressed", want: []row{{Repo: 1005, Bundle: provenanceDemoFile, Linked: true}}, wantBlobs: 1},
		{
			name:       "plain JSON",
			blobScript: func(t *testing.T) []http.HandlerFunc { return []http.HandlerFunc{writeBlob(200, demo(t))} },
			want:       []row{{Repo: 1005, Bundle: provenanceDemoFile, Linked: true}},
			wantBlobs:  1,
		},
		{
			name: "neither JSON nor snappy",
			blobScript: func(*testing.T) []http.HandlerFunc {
				return []http.HandlerFunc{writeBlob(200, []byte("\xff\xff\xff\xff\xff\xff garbage"))}
			},
			want:      []row{{Repo: 1005, Linked: true, Err: "malformed"}},
			wantBlobs: 1,
		},
		{
			name: "snappy, but not JSON",
			blobScript: func(*testing.T) []http.HandlerFunc {
				return []http.HandlerFunc{writeBlob(200, snappy.Encode(nil, []byte("not a bundle")))}
			},
			want:      []row{{Repo: 1005, Linked: true, Err: "malformed"}},
			wantBlobs: 1,
		},
		{
			name:       "blob gone",
			blobScript: func(*testing.T) []http.HandlerFunc { return []http.HandlerFunc{writeBlob(404, notFound)} },
			want:       []row{{Repo: 1005, Linked: true, Err: "API 404"}},
			wantBlobs:  1,
		},
		{
			name: "blob store failing",
			blobScript: func(*testing.T) []http.HandlerFunc {
				return []http.HandlerFunc{writeBlob(503, nil), writeBlob(503, nil), writeBlob(503, nil)}
			},
			wantErr:   "API 503",
			wantBlobs: 3,
		},
		{
			name:   "neither bundle nor bundle_url",
			script: []http.HandlerFunc{writePage(`{"attestations":[{"bundle":null,"repository_id":1005}]}`)},
			want:   []row{{Repo: 1005, Err: "malformed"}},
		},
		{
			name:   "bundle not an object",
			script: []http.HandlerFunc{writePage(`{"attestations":[{"bundle":"eyJtZWRpYVR5cGUiOiJ4In0=","repository_id":1005}]}`)},
			want:   []row{{Repo: 1005, Err: "malformed"}},
		},
		{
			name:   "bundle_url not a URL",
			script: []http.HandlerFunc{writePage(`{"attestations":[{"bundle":null,"repository_id":1005,"bundle_url":"/relative"}]}`)},
			want:   []row{{Repo: 1005, Linked: true, Err: "malformed"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := setup(t, github.Config{Token: "ghp_blobs"})
			r.then(tc.script...)
			if tc.blobScript != nil {
				script := tc.blobScript(t)
				r.set(func(r *replay) { r.blobScript = script })
			}
			atts, err := c.OrgAttestations(t.Context(), "actions", provenanceDemo, "")
			if got := class(err); got != tc.wantErr {
				t.Fatalf("error %v: class %q, want %q", err, got, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "sig=") {
				t.Errorf("error %q shows the bundle_url's signature", err)
			}
			if diff := cmp.Diff(tc.want, rows(r, atts)); err == nil && diff != "" {
				t.Errorf("attestations (-want +got):\n%s", diff)
			}
			for _, a := range atts {
				if a.Err != nil && strings.Contains(a.Err.Error(), "sig=") {
					t.Errorf("Err %q shows the bundle_url's signature", a.Err)
				}
			}
			blobs := r.blobRequests()
			if len(blobs) != tc.wantBlobs {
				t.Errorf("%d bundle_url requests, want %d", len(blobs), tc.wantBlobs)
			}
			for _, b := range blobs {
				if b.Header.Get("Authorization") != "" {
					t.Error("the token was sent to the blob store")
				}
			}
		})
	}
}

// TestMalformed refuses responses that are not what GitHub documents, saying what is wrong.
func TestMalformed(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client followed a next link to another host: %s", r.URL)
	}))
	t.Cleanup(elsewhere.Close)
	page := func(link, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if link != "" {
				w.Header().Set("Link", link)
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name   string
		script http.HandlerFunc
		want   string
	}{
		{name: "not JSON", script: page("", "<html>Unicorn!</html>"), want: "page 1: malformed GitHub response: invalid character"},
		{name: "truncated", script: page("", `{"attestations":[{"bundle":{"mediaType"`), want: "page 1: malformed GitHub response: unexpected end of JSON input"},
		{name: "attestations not an array", script: page("", `{"attestations":{}}`), want: "page 1: malformed GitHub response: json: cannot unmarshal object"},
		{name: "no attestations", script: page("", `{"total_count":0}`), want: "page 1: malformed GitHub response: no attestations array"},
		{name: "bad Link header", script: page(`https://api.github.com/x; rel="next"`, `{"attestations":[]}`), want: "page 1: malformed GitHub response: Link header: want <target>"},
		{
			name:   "next page on another host",
			script: page(fmt.Sprintf(`<%s/orgs/x/attestations/y?after=Y3Vyc29y>; rel="next"`, elsewhere.URL), `{"attestations":[]}`),
			want:   "page 1: malformed GitHub response: next page " + elsewhere.URL + "/orgs/x/attestations/y is not on",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := setup(t, github.Config{Token: "ghp_malformed"})
			r.then(tc.script)
			atts, err := c.OrgAttestations(t.Context(), "aspect-build", rulesLint, "")
			if !errors.Is(err, github.ErrMalformedResponse) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformedResponse saying %q", err, tc.want)
			}
			if atts != nil {
				t.Errorf("attestations = %v, want none", atts)
			}
		})
	}
}

// TestContextCancelStopsWaiting stops waiting for a rate limit when ctx is done.
func TestContextCancelStopsWaiting(t *testing.T) {
	r := newReplay(t, time.Now)
	r.then(secondaryLimit(http.StatusForbidden, "30"))
	c := MustNew(t, github.Config{BaseURL: r.api.URL})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	began := time.Now()
	_, err := c.OrgAttestations(ctx, "aspect-build", rulesLint, "")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting 30s for GitHub's rate limit to reset") {
		t.Fatalf("err = %v, want context.Canceled while waiting", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("returned after %s, want at once on cancel", d)
	}
	if n := len(r.apiRequests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestInvalidArguments refuses what cannot be asked, without asking.
func TestInvalidArguments(t *testing.T) {
	tests := []struct {
		name string
		call func(context.Context, *github.Client) ([]github.Attestation, error)
		want error
	}{
		{name: "digest", call: org("aspect-build", "sha256:ABC", ""), want: evidence.ErrInvalid},
		{name: "empty digest", call: repo("aspect-build", "rules_lint", "", ""), want: evidence.ErrInvalid},
		{name: "org with a slash", call: org("aspect-build/rules_lint", rulesLint, ""), want: github.ErrInvalidArgument},
		{name: "empty repo", call: repo("aspect-build", "", rulesLint, ""), want: github.ErrInvalidArgument},
		{name: "dot-dot owner", call: repo("..", "rules_lint", rulesLint, ""), want: github.ErrInvalidArgument},
		{name: "escaped slash", call: org("aspect-build%2Frules_lint", rulesLint, ""), want: github.ErrInvalidArgument},
		{name: "space", call: repo("aspect-build", "rules lint", rulesLint, ""), want: github.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := setup(t, github.Config{})
			if _, err := tc.call(t.Context(), c); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if n := len(r.apiRequests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  github.Config
		want string // part of the error; "" for none
	}{
		{name: "zero", cfg: github.Config{}},
		{name: "enterprise", cfg: github.Config{BaseURL: "https://ghe.example.com/api/v3", Token: "ghp_x", PerPage: 100, MaxWait: -1}},
		{name: "relative base URL", cfg: github.Config{BaseURL: "api.github.com"}, want: "want an absolute http(s) URL"},
		{name: "other scheme", cfg: github.Config{BaseURL: "ftp://api.github.com"}, want: "want an absolute http(s) URL"},
		{name: "credentials in base URL", cfg: github.Config{BaseURL: "https://u:p@api.github.com"}, want: "want no credentials"},
		{name: "token with a newline", cfg: github.Config{Token: "ghp_abc\n"}, want: "token contains white space"},
		{name: "per page over 100", cfg: github.Config{PerPage: 101}, want: "per page 101"},
		{name: "negative max pages", cfg: github.Config{MaxPages: -1}, want: "max pages -1"},
		{name: "negative max bytes", cfg: github.Config{MaxResponseBytes: -1}, want: "max response bytes -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, github.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
			if _, err := github.New(tc.cfg); !errors.Is(err, github.ErrInvalidConfig) {
				t.Errorf("New: err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestConfigRedactsToken keeps the token out of logs and printed values.
func TestConfigRedactsToken(t *testing.T) {
	const token = "ghp_s3cr3tT0kenValue"
	cfg := github.Config{BaseURL: "https://ghe.example.com/api/v3", Token: token}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "github", cfg)
	logged := buf.String()
	if !strings.Contains(logged, `"token":"REDACTED"`) || !strings.Contains(logged, `"base_url":"https://ghe.example.com/api/v3"`) {
		t.Errorf("log = %s, want the base URL and a redacted token", logged)
	}
	for _, s := range []string{logged, fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), fmt.Sprint(&cfg)} {
		if strings.Contains(s, token) {
			t.Errorf("the token shows in %s", s)
		}
	}
	if got := (github.Config{}).LogValue().Resolve().Group(); len(got) == 0 || got[1].Value.String() != "none" {
		t.Errorf("without a token: %v, want token none", got)
	}
}

// TestReplayedBundlesVerify checks the replay is faithful: every bundle it returns parses,
// verifies against the public-good root, was signed in the repository it is listed under and
// is about the digest asked for.
func TestReplayedBundlesVerify(t *testing.T) {
	tr, err := verify.PublicGood()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New([]verify.NamedRoot{{Name: "public-good", Material: tr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		owner, repo string
		d           evidence.Digest
	}{
		{"aspect-build", "rules_lint", moduleBazel},
		{"aspect-build", "rules_lint", rulesLint},
		{"loosebazooka", "aa-test", moduleBazel},
		{"too-legit", "attest", customIssuer},
		{"malancas", "attest-demo", reusableFlow},
	}
	_, c, _ := setup(t, github.Config{})
	for _, tc := range tests {
		t.Run(tc.owner+"/"+tc.repo+"@"+string(tc.d)[:15], func(t *testing.T) {
			atts, err := c.RepoAttestations(t.Context(), tc.owner, tc.repo, tc.d, slsaV1)
			if err != nil {
				t.Fatal(err)
			}
			if len(atts) != 1 {
				t.Fatalf("%d attestations, want 1", len(atts))
			}
			entries, err := verify.ParseBundles(atts[0].Bundle)
			if err != nil || len(entries) != 1 || entries[0].Err != nil {
				t.Fatalf("ParseBundles: %v, %d entries (%+v)", err, len(entries), entries)
			}
			res, err := v.VerifyBundle(entries[0].Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Verified {
				t.Fatalf("not verified: %s", res.Error)
			}
			if want := "https://github.com/" + tc.owner + "/" + tc.repo; res.Signer.SourceRepository != want {
				t.Errorf("signed in %s, listed under %s", res.Signer.SourceRepository, want)
			}
			st, err := provenance.ParseStatement(res.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Names(tc.d) || st.PredicateType() != slsaV1 {
				t.Errorf("statement about %v (%s), want %s (%s)", st.SubjectDigests(), st.PredicateType(), tc.d, slsaV1)
			}
		})
	}
}

const goldenFile = "testdata/orgs-aspect-build-attestations-rules_lint.json"

// TestGoldenResponse keeps the recorded response the example serves in step with the replay
// (and so with the corpus); refresh it with -update.
func TestGoldenResponse(t *testing.T) {
	r, _, _ := setup(t, github.Config{})
	resp, err := http.Get(r.api.URL + "/orgs/aspect-build/attestations/" + string(rulesLint) + "?per_page=100")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	got := bytes.ReplaceAll(buf.Bytes(), []byte(r.blobs.URL), []byte("https://blobs.example"))
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale (-want +got), run with -update:\n%s", goldenFile, diff)
	}
}
