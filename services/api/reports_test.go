package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
	"github.com/aspmhq/aspm/services/api"
)

func init() {
	// The reports' HTML is a string to the document; kin-openapi has no text/html decoder.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// getRaw sends GET url with token and returns the status, headers and body.
func getRaw(t *testing.T, token, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestReportsOrgIsolation proves that org A's token gets a report of org A holding none of org
// B's artifacts or exceptions, in every format, and is refused (403, naming org B) when it asks
// for org B's; and that the report has the right media type and download name and is the same
// for the same window.
func TestReportsOrgIsolation(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	now := time.Now().UTC().Truncate(time.Second)
	for _, org := range []string{"acme", "globex"} {
		e := store.Exception{ID: "exc_00000000000000" + map[string]string{"acme": "a1", "globex": "b1"}[org], Org: org,
			Code: "provenance.missing", Scope: store.ExceptionScope{Environment: "prod"}, Reason: "accepted by " + org,
			Owner: "owner@" + org + ".example", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
			CreatedBy: "test", UpdatedAt: now.Add(-time.Hour), Version: now.Add(-time.Hour).UnixNano()}
		if err := w.st.WriteExceptionChange(context.Background(), store.ExceptionChange{At: e.UpdatedAt, Actor: "test",
			Action: store.ExceptionCreated, Exception: e}); err != nil {
			t.Fatal(err)
		}
	}
	acme := newToken(t, w.st, auth.ScopeRead, "acme", nil, nil)
	globex := w.images["globex"]
	to := now.Add(time.Minute).Format(time.RFC3339)
	for _, fw := range []string{"ssdf", "fedramp"} {
		for format, ctype := range map[string]string{"json": "application/json", "csv": "text/csv; charset=utf-8",
			"html": "text/html; charset=utf-8", "oscal-ar": "application/oscal+json", "oscal-ap": "application/oscal+json",
			"oscal-poam": "application/oscal+json"} {
			url := w.srv.URL + "/v1/reports/" + fw + "?format=" + format + "&to=" + to
			code, h, body := getRaw(t, acme, url)
			if code != 200 || h.Get("Content-Type") != ctype {
				t.Errorf("%s %s: %d %s, want 200 %s; %s", fw, format, code, h.Get("Content-Type"), ctype, body)
				continue
			}
			for _, leak := range []string{"globex", string(globex.Digest), "exc_00000000000000b1"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("%s %s of acme holds %q", fw, format, leak)
				}
			}
			if cd := h.Get("Content-Disposition"); (format == "json") != (cd == "") || (cd != "" && !strings.Contains(cd, "filename=")) {
				t.Errorf("%s %s: Content-Disposition %q", fw, format, cd)
			}
			if _, _, again := getRaw(t, acme, url); string(again) != string(body) {
				t.Errorf("%s %s: two requests for the same window differ", fw, format)
			}
		}
		_, _, body := getRaw(t, acme, w.srv.URL+"/v1/reports/"+fw+"?to="+to)
		var r struct {
			Org     string
			Summary struct{ Artifacts int }
			Weak    []struct {
				Exception struct{ ID, Owner string }
			} `json:"accepted_weaknesses"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Org != "acme" || r.Summary.Artifacts != 1 || len(r.Weak) != 1 || r.Weak[0].Exception.ID != "exc_00000000000000a1" ||
			r.Weak[0].Exception.Owner != "owner@acme.example" {
			t.Errorf("%s of acme: %s", fw, body)
		}
		code, _, body := getRaw(t, acme, w.srv.URL+"/v1/reports/"+fw+"?org=globex")
		if code != 403 || !strings.Contains(string(body), `globex`) || !strings.Contains(string(body), "forbidden") {
			t.Errorf("%s of globex with acme's token: %d %s, want 403 naming globex", fw, code, body)
		}
		// The operator names the org, and gets globex's exception in globex's report.
		code, _, body = getRaw(t, w.admin, w.srv.URL+"/v1/reports/"+fw+"?org=globex&to="+to)
		if code != 200 || !strings.Contains(string(body), "exc_00000000000000b1") || strings.Contains(string(body), "exc_00000000000000a1") {
			t.Errorf("%s of globex with the operator's token: %d %s", fw, code, body)
		}
	}
}
