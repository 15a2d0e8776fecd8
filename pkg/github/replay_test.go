package github_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"

	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/testcorpus"
)

// The subject digests of the real attestations the replay holds (see the corpus's
// SOURCES.md).
const (
	moduleBazel    evidence.Digest = "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b"
	rulesLint      evidence.Digest = "sha256:1636f443b01c9ee310ee5834956d0dce374c3d3bf8d4cebc9f6b86f8304b4982"
	customIssuer   evidence.Digest = "sha256:afa27b44d43b02a9fea41d13cedc2e4016cfcf87c5dbf990e593669aa8ce286d"
	reusableFlow   evidence.Digest = "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25"
	provenanceDemo evidence.Digest = "sha256:ae57936def59bc4c75edd3a837d89bcefc6d3a5e31d55a6fa7a71624f92c3c3b"
	conformanceTxt evidence.Digest = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
	unknownDigest  evidence.Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
)

const slsaV1 = "https://slsa.dev/provenance/v1"

// delivery is how the replay hands out a bundle in a list response.
type delivery int

const (
	// inline: "bundle" and "bundle_url" both set, as GitHub answers API version 2022-11-28.
	inline delivery = iota
	// linkedSnappy: "bundle": null and a bundle_url serving snappy-compressed JSON, as
	// GitHub's blob storage does.
	linkedSnappy
	// linkedPlain: "bundle": null and a bundle_url serving plain JSON.
	linkedPlain
)

// stored is one attestation the replay holds: a real bundle from the corpus, stored in the
// repository whose workflow signed it (the certificate's source repository). Repository IDs
// are the replay's own.
type stored struct {
	owner, repo string
	repoID      int64
	file        string
	via         delivery

	bundle        json.RawMessage // compact
	predicateType string
	subjects      []string // "sha256:<hex>", as GitHub indexes them
}

// realAttestations are the stored attestations: GitHub artifact attestations from gh's and
// slsa-verifier's test data, and sigstore-conformance bundles signed by its beacon workflow
// for one artifact (a.txt), which give one digest three attestations.
var realAttestations = []stored{
	{owner: "aspect-build", repo: "rules_lint", repoID: 1001, file: "slsa-verifier/bcr/MODULE.bazel.intoto.jsonl"},
	{owner: "aspect-build", repo: "rules_lint", repoID: 1001, file: "slsa-verifier/bcr/rules_lint-v1.3.1.tar.gz.intoto.jsonl"},
	{owner: "loosebazooka", repo: "aa-test", repoID: 1002, file: "slsa-verifier/bcr/MODULE-wrong-signer.bazel.intoto.jsonl"},
	{owner: "too-legit", repo: "attest", repoID: 1003, file: "sigstore/github-cli/custom-issuer.sigstore.json"},
	{owner: "malancas", repo: "attest-demo", repoID: 1004, file: "sigstore/github-cli/reusable-workflow-attestation.sigstore.json"},
	{owner: "actions", repo: "attest-demo", repoID: 1005, file: "sigstore/github-cli/github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl", via: linkedSnappy},
	{owner: "sigstore-conformance", repo: "extremely-dangerous-public-oidc-beacon", repoID: 1006, file: "sigstore/conformance/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json"},
	{owner: "sigstore-conformance", repo: "extremely-dangerous-public-oidc-beacon", repoID: 1006, file: "sigstore/conformance/bundle-verify/rekor2-dsse-happy-path/bundle.sigstore.json", via: linkedSnappy},
	{owner: "sigstore-conformance", repo: "extremely-dangerous-public-oidc-beacon", repoID: 1006, file: "sigstore/conformance/bundle-verify/dsse-invalid-sig_fail/bundle.sigstore.json", via: linkedPlain},
}

// blobQuery stands for the signature of a blob storage URL; it must never appear in errors.
const blobQuery = "sv=2025-01-05&sig=c2VjcmV0LXNhcy1zaWduYXR1cmU"

// replay is a local GitHub: the attestations endpoints as GitHub documents them (token auth,
// per_page, after/before cursors with Link headers, predicate_type, 404 for none, error
// bodies, rate limit headers), under / and under /api/v3 (GitHub Enterprise Server), and a
// blob store serving the bundle_urls.
type replay struct {
	api, blobs *httptest.Server
	// token, when set, is the only token accepted; requests without one read public data.
	token  string
	stored []stored
	now    func() time.Time

	mu         sync.Mutex
	requests   []*http.Request // API requests, in order
	blobReqs   []*http.Request
	script     []http.HandlerFunc // answer the next API requests, before the replay does
	blobScript []http.HandlerFunc
	// rate, when set, gives the X-RateLimit-Remaining and X-RateLimit-Reset of the n-th
	// (from 0) API response.
	rate func(n int) (remaining int, reset time.Time)
}

func newReplay(t testing.TB, now func() time.Time) *replay {
	t.Helper()
	r := &replay{now: now}
	for _, s := range realAttestations {
		s.bundle = readBundle(t, s.file)
		s.predicateType, s.subjects = statementOf(t, s.bundle)
		r.stored = append(r.stored, s)
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /orgs/{org}/attestations/{digest}", func(w http.ResponseWriter, req *http.Request) {
		r.list(w, req, req.PathValue("org"), "")
	})
	api.HandleFunc("GET /repos/{owner}/{repo}/attestations/{digest}", func(w http.ResponseWriter, req *http.Request) {
		r.list(w, req, req.PathValue("owner"), req.PathValue("repo"))
	})
	api.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.record(req)
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
	})
	root := http.NewServeMux()
	root.Handle("/api/v3/", http.StripPrefix("/api/v3", api))
	root.Handle("/", api)
	r.api = httptest.NewServer(root)
	t.Cleanup(r.api.Close)

	blobs := http.NewServeMux()
	blobs.HandleFunc("GET /blobs/{i}", r.blob)
	r.blobs = httptest.NewServer(blobs)
	t.Cleanup(r.blobs.Close)
	return r
}

// readBundle returns the one bundle of a corpus file (a bundle, or JSON lines of one), compact.
func readBundle(t testing.TB, file string) json.RawMessage {
	t.Helper()
	data := bytes.TrimSpace(testcorpus.Read(t, file))
	if !json.Valid(data) {
		t.Fatalf("%s: want one bundle", file)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return buf.Bytes()
}

// statementOf reads the predicate type and sha256 subjects of a bundle's in-toto statement.
func statementOf(t testing.TB, bundle []byte) (string, []string) {
	t.Helper()
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, s := range st.Subject {
		if h := s.Digest["sha256"]; h != "" {
			subjects = append(subjects, "sha256:"+strings.ToLower(h))
		}
	}
	return st.PredicateType, subjects
}

// name returns the corpus file whose bundle b is, or a description of b.
func (r *replay) name(b json.RawMessage) string {
	if b == nil {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "invalid JSON"
	}
	for _, s := range r.stored {
		if bytes.Equal(buf.Bytes(), s.bundle) {
			return s.file
		}
	}
	return fmt.Sprintf("unknown bundle of %d bytes", len(b))
}

func (r *replay) record(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
}

// set changes the replay's settings (token, rate, blobScript) while it serves.
func (r *replay) set(f func(r *replay)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// then queues handlers for the next API requests.
func (r *replay) then(h ...http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, h...)
}

func (r *replay) next(script *[]http.HandlerFunc) http.HandlerFunc {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(*script) == 0 {
		return nil
	}
	h := (*script)[0]
	*script = (*script)[1:]
	return h
}

func (r *replay) apiRequests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

func (r *replay) blobRequests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.blobReqs)
}

func (r *replay) setRateHeaders(w http.ResponseWriter) {
	r.mu.Lock()
	n := len(r.requests) - 1
	rate := r.rate
	r.mu.Unlock()
	remaining, reset := 4999-n, r.now().Add(time.Hour)
	if rate != nil {
		remaining, reset = rate(n)
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes GitHub's error body.
func writeError(w http.ResponseWriter, status int, message, doc string) {
	writeJSON(w, status, map[string]string{"message": message, "documentation_url": doc, "status": strconv.Itoa(status)})
}

// cursor is an opaque page cursor, as GitHub's are.
func cursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("cursor:v2:" + strconv.Itoa(i)))
}

func parseCursor(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "cursor:v2:"))
	return n, err == nil && n >= 0
}

// listEntry is one element of the documented list response.
type listEntry struct {
	Bundle       json.RawMessage `json:"bundle"`
	RepositoryID int64           `json:"repository_id"`
	BundleURL    string          `json:"bundle_url,omitempty"`
	Initiator    string          `json:"initiator,omitempty"`
}

func (r *replay) bundleURL(i int) string {
	return r.blobs.URL + "/blobs/" + strconv.Itoa(i) + "?" + blobQuery
}

// matches returns the indexes of the stored attestations an endpoint lists.
func (r *replay) matches(owner, repo, digest, predicateType string) []int {
	var out []int
	for i, s := range r.stored {
		if strings.EqualFold(s.owner, owner) && (repo == "" || strings.EqualFold(s.repo, repo)) &&
			slices.Contains(s.subjects, digest) && (predicateType == "" || predicateType == s.predicateType) {
			out = append(out, i)
		}
	}
	return out
}

func (r *replay) list(w http.ResponseWriter, req *http.Request, owner, repo string) {
	r.record(req)
	r.setRateHeaders(w)
	if h := r.next(&r.script); h != nil {
		h(w, req)
		return
	}
	r.mu.Lock()
	token := r.token
	r.mu.Unlock()
	if auth := req.Header.Get("Authorization"); auth != "" && (token == "" || auth != "Bearer "+token) {
		writeError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return
	}
	q := req.URL.Query()
	perPage := 30
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusUnprocessableEntity, "Invalid per_page", "https://docs.github.com/rest/orgs/orgs#list-attestations")
			return
		}
		perPage = min(n, 100)
	}
	all := r.matches(owner, repo, req.PathValue("digest"), q.Get("predicate_type"))
	if len(all) == 0 {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/orgs/orgs#list-attestations")
		return
	}
	start, end := 0, min(perPage, len(all))
	if v := q.Get("after"); v != "" {
		n, ok := parseCursor(v)
		if !ok || n > len(all) {
			writeError(w, http.StatusBadRequest, "Invalid cursor", "https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api")
			return
		}
		start, end = n, min(n+perPage, len(all))
	}
	if v := q.Get("before"); v != "" {
		n, ok := parseCursor(v)
		if !ok || n > len(all) {
			writeError(w, http.StatusBadRequest, "Invalid cursor", "https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api")
			return
		}
		start, end = max(0, n-perPage), n
	}

	// Links keep the request's path (with /api/v3 on Enterprise) and query.
	self, _ := url.ParseRequestURI(req.RequestURI)
	link := func(rel, param string, at int) string {
		lq := req.URL.Query()
		lq.Del("after")
		lq.Del("before")
		lq.Set(param, cursor(at))
		u := url.URL{Scheme: "http", Host: req.Host, Path: self.Path, RawQuery: lq.Encode()}
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var links []string
	if end < len(all) {
		links = append(links, link("next", "after", end))
	}
	if start > 0 {
		links = append(links, link("prev", "before", start))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}

	page := struct {
		Attestations []listEntry `json:"attestations"`
	}{Attestations: []listEntry{}}
	for _, i := range all[start:end] {
		s := r.stored[i]
		e := listEntry{RepositoryID: s.repoID, BundleURL: r.bundleURL(i), Initiator: "user"}
		if s.via == inline {
			e.Bundle = s.bundle
		} else {
			e.Bundle = json.RawMessage("null")
		}
		page.Attestations = append(page.Attestations, e)
	}
	writeJSON(w, http.StatusOK, page)
}

// blob serves a stored bundle as blob storage does: snappy-compressed unless stored as
// linkedPlain.
func (r *replay) blob(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.blobReqs = append(r.blobReqs, req)
	r.mu.Unlock()
	if h := r.next(&r.blobScript); h != nil {
		h(w, req)
		return
	}
	i, err := strconv.Atoi(req.PathValue("i"))
	if err != nil || i < 0 || i >= len(r.stored) || req.URL.RawQuery != blobQuery {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code></Error>`))
		return
	}
	s := r.stored[i]
	w.Header().Set("Content-Type", "application/octet-stream")
	if s.via == linkedPlain {
		_, _ = w.Write(s.bundle)
		return
	}
	_, _ = w.Write(snappy.Encode(nil, s.bundle))
}
