package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aspmhq/aspm/services/api/internal/dashboard"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	dashboard.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestAssets(t *testing.T) {
	srv := serve(t)
	_, page := get(t, srv.URL+"/")
	// Every file the page names is served, from this origin.
	refs := regexp.MustCompile(`(?:src|href)="([^"#]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("the page names %d files", len(refs))
	}
	for _, tc := range append([][]string{{"", "/"}}, refs...) {
		path := tc[1]
		t.Run(path, func(t *testing.T) {
			if !strings.HasPrefix(path, "/assets/") && path != "/" {
				t.Fatalf("the page names %q, not a file of its own", path)
			}
			resp, body := get(t, srv.URL+path)
			h := resp.Header
			if resp.StatusCode != http.StatusOK || h.Get("Content-Security-Policy") != dashboard.CSP ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s, headers %v", resp.Status, h)
			}
			ctype := map[string]string{"/": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
			want := ctype[path]
			if want == "" {
				want = ctype[path[strings.LastIndex(path, "."):]]
			}
			if !strings.HasPrefix(h.Get("Content-Type"), want) {
				t.Errorf("Content-Type %q, want %s", h.Get("Content-Type"), want)
			}
			// Nothing comes from another host (the SVG namespace is a name, not a fetch).
			if rest := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""); strings.Contains(rest, "http://") ||
				strings.Contains(rest, "https://") || strings.Contains(rest, `="//`) || strings.Contains(rest, "url(") {
				t.Errorf("names another host or loads a resource from CSS")
			}
			// Data reaches the DOM as text only.
			for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "<style", " style=", "<script>"} {
				if strings.Contains(body, sink) {
					t.Errorf("uses %s", sink)
				}
			}
			// Revalidation by ETag.
			if r, _ := get(t, srv.URL+path, "If-None-Match", h.Get("ETag")); h.Get("ETag") == "" || r.StatusCode != http.StatusNotModified {
				t.Errorf("ETag %q: revalidating gives %s, want 304", h.Get("ETag"), r.Status)
			}
		})
	}
}

func TestStrictCSP(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
		"object-src 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(dashboard.CSP, want) {
			t.Errorf("CSP %q lacks %q", dashboard.CSP, want)
		}
	}
	if strings.Contains(dashboard.CSP, "unsafe") || strings.Contains(dashboard.CSP, "http") {
		t.Errorf("CSP %q allows inline code or another host", dashboard.CSP)
	}
}

func TestUnknownPaths(t *testing.T) {
	srv := serve(t)
	for _, path := range []string{"/assets/", "/assets/nope.js", "/index.html", "/assets/../dashboard.go"} {
		resp, _ := get(t, srv.URL+path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}
