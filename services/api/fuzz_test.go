package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fuzzRoutes are the requests FuzzHandlers sends, picked by the fuzzer's route number: every
// endpoint that reads a body, and the read endpoints whose query parameters it parses. {} in
// a path is replaced by the fuzzed path element.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/deployments"},
	{http.MethodPost, "/v1/tokens"},
	{http.MethodPost, "/v1/tokens/{}"},
	{http.MethodPost, "/v1/exceptions"},
	{http.MethodPost, "/v1/exceptions/{}"},
	{http.MethodPost, "/v1/artifacts/{}"},
	{http.MethodGet, "/v1/reports/ssdf"},
	{http.MethodGet, "/v1/reports/fedramp"},
	{http.MethodGet, "/v1/artifacts"},
	{http.MethodGet, "/v1/artifacts/{}"},
	{http.MethodGet, "/v1/gaps"},
	{http.MethodGet, "/v1/components"},
	{http.MethodGet, "/v1/deployments"},
	{http.MethodGet, "/v1/coverage"},
	{http.MethodGet, "/v1/coverage/trend"},
	{http.MethodGet, "/v1/exceptions"},
	{http.MethodGet, "/v1/exceptions/audit"},
	{http.MethodGet, "/v1/exceptions/{}"},
	{http.MethodGet, "/v1/tokens"},
	{http.MethodGet, "/v1/notifications/dead-letters"},
}

// FuzzHandlers drives the real API (store, bus and authentication included) with fuzzed
// bodies, path elements and query strings on every route above. No request may fail with a
// 5xx, and every 4xx must be a JSON error with a code.
func FuzzHandlers(f *testing.F) {
	deep := strings.Repeat("[", 3000) + strings.Repeat("]", 3000)
	deepObj := strings.Repeat(`{"a":`, 800) + "1" + strings.Repeat("}", 800)
	seeds := []struct {
		route       uint8
		elem, query string
		body        string
	}{
		{0, "", "", `{"image":"registry.example/acme/app@sha256:ab00000000000000000000000000000000000000000000000000000000000000","environment":"prod","org":"acme","team":"pay"}`},
		{0, "", "", `[` + deep + `]`},
		{0, "", "", deepObj},
		{1, "", "", `{"name":"ci","scopes":["read"],"org":"acme","ttl":"24h"}`},
		{1, "", "", `{"name":"ci","scopes":["root"],"ttl":"-1s"}`},
		{2, "tok_1:revoke", "", `{}`},
		{3, "", "", `{"org":"acme","gap_code":"sbom.missing","reason":"r","expires_at":"2030-01-01T00:00:00Z"}`},
		{3, "", "", `{"org":"acme","gap_code":"sbom.missing","expires_at":"0000-01-01T00:00:00Z"}`},
		{4, "exc_1:update", "", `{"expires_at":"2031-01-01T00:00:00Z"}`},
		{4, "exc_1:revoke", "", `{"reason":"done"}`},
		{4, ":", "", deep},
		{5, "sha256:ab00000000000000000000000000000000000000000000000000000000000000:rescan", "", ``},
		{6, "", "org=acme&format=oscal&at=2026-01-01T00:00:00Z", ``},
		{7, "", "format=html&org=%ff&env=", ``},
		{8, "", "limit=-1&cursor=%00&sort=risk", ``},
		{9, "sha256:zz", "", ``},
		{10, "", "severity=critical&limit=99999999999999999999", ``},
		{11, "", "purl=pkg:deb/debian/zlib@1.2.13&name=&version=1", ``},
		{14, "", "from=2026-13-01&to=x&bucket=0s", ``},
		{17, "../../etc/passwd", "", ``},
	}
	for _, s := range seeds {
		f.Add(s.route, s.elem, s.query, []byte(s.body))
	}
	fx := setup(f)
	client := fx.srv.Client()
	f.Fuzz(func(t *testing.T, route uint8, elem, query string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		u := fx.srv.URL + strings.Replace(r.path, "{}", url.PathEscape(elem), 1)
		if query != "" {
			u += "?" + query
		}
		req, err := http.NewRequestWithContext(t.Context(), r.method, u, strings.NewReader(string(body)))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+fx.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, u, err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the answer: %v", r.method, u, err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s with body %q: %s %s", r.method, u, body, resp.Status, raw)
		}
		if resp.StatusCode >= 400 {
			var v map[string]any
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(raw, &v) != nil || errCode(v) == "" {
				t.Fatalf("%s %s: %s with a body that is not a JSON error: %q", r.method, u, resp.Status, raw)
			}
		}
	})
}
