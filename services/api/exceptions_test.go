package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/services/api"
)

// TestExceptions walks a risk acceptance through the API: acme accepts its prod gap, which
// stays in the feed marked accepted but leaves coverage's with_gaps; the gap feed's ETag
// changes; globex's view is untouched and it cannot see or change acme's exception; a
// team-bound token can accept only within its team; renewing and revoking are audited, and a
// revoked exception no longer accepts anything.
func TestExceptions(t *testing.T) {
	w := setupOrgs(t, api.Config{})
	acme := newToken(t, w.st, auth.ScopeWrite, "acme", nil, nil)
	acmeRead := newToken(t, w.st, auth.ScopeRead, "acme", nil, nil)
	globex := newToken(t, w.st, auth.ScopeWrite, "globex", nil, nil)
	web := newToken(t, w.st, auth.ScopeWrite, "acme", []string{"web"}, nil)
	url := w.srv.URL

	withGaps := func(token string) (float64, float64) {
		t.Helper()
		code, cov := doAs(t, token, "GET", url+"/v1/coverage", "", "")
		if code != 200 {
			t.Fatalf("coverage: %d %v", code, cov)
		}
		return cov["with_gaps"].(float64), cov["accepted"].(float64)
	}
	etag := func(token string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/v1/gaps", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("ETag")
	}
	if g, a := withGaps(acme); g != 1 || a != 0 {
		t.Fatalf("before: with_gaps %v accepted %v, want 1 and 0", g, a)
	}
	tagBefore, globexTag := etag(acme), etag(globex)

	// Bad requests are refused with a stable code and a reason.
	for _, tc := range []struct{ token, body, code string }{
		{acme, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o"}`, "invalid_argument"},                   // no expiry
		{acme, `{"code":"provenance.missing","scope":{},"reason":"r","owner":"o","ttl":"30d"}`, "invalid_argument"},                           // no scope
		{acme, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o","ttl":"400d"}`, "invalid_argument"},      // too long
		{acme, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"","owner":"o","ttl":"30d"}`, "invalid_argument"},        // no reason
		{acme, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o","ttl":"30d","x":1}`, "invalid_argument"}, // unknown field
		{acme, `{"org":"globex","code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o","ttl":"30d"}`, "forbidden"},
		{web, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o","ttl":"30d"}`, "forbidden"}, // not its team
		{acmeRead, `{"code":"provenance.missing","scope":{"environment":"prod"},"reason":"r","owner":"o","ttl":"30d"}`, "forbidden"},
	} {
		if code, body := doAs(t, tc.token, "POST", url+"/v1/exceptions", "application/json", tc.body); errCode(body) != tc.code {
			t.Errorf("POST %s: %d %v, want %s", tc.body, code, body, tc.code)
		}
	}

	code, created := doAs(t, acme, "POST", url+"/v1/exceptions", "application/json",
		`{"code":"provenance.missing","scope":{"repository":"registry.example/acme/*","environment":"prod"},`+
			`"reason":"legacy build system; migration tracked in SEC-12","owner":"alice@acme.example","ttl":"30d"}`)
	if code != 201 || created["state"] != "active" || created["org"] != "acme" {
		t.Fatalf("creating: %d %v", code, created)
	}
	id := created["id"].(string)
	t.Logf("created %s", id)

	// Coverage: acme's only gapped artifact is now accepted; globex is untouched.
	if g, a := withGaps(acme); g != 0 || a != 1 {
		t.Errorf("after accepting: with_gaps %v accepted %v, want 0 and 1", g, a)
	}
	if g, a := withGaps(globex); g != 1 || a != 0 {
		t.Errorf("globex after acme's exception: with_gaps %v accepted %v, want 1 and 0", g, a)
	}
	// The feed still lists the gap, marked; the tag moved for acme only.
	_, feed := doAs(t, acme, "GET", url+"/v1/gaps", "", "")
	items := feed["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("feed: %v", feed)
	}
	acc, _ := items[0].(map[string]any)["accepted"].(map[string]any)
	if acc["exception_id"] != id || acc["owner"] != "alice@acme.example" {
		t.Errorf("feed item's acceptance = %v, want exception %s", acc, id)
	}
	if tag := etag(acme); tag == tagBefore {
		t.Errorf("the gap feed's ETag did not change when its gap was accepted")
	}
	if tag := etag(globex); tag != globexTag {
		t.Errorf("globex's ETag changed with acme's exception")
	}
	_, gfeed := doAs(t, globex, "GET", url+"/v1/gaps", "", "")
	if strings.Contains(mustJSON(t, gfeed), id) {
		t.Errorf("globex's feed shows acme's exception: %v", gfeed)
	}

	// Globex sees none of it and cannot touch it.
	if code, body := doAs(t, globex, "GET", url+"/v1/exceptions?state=all", "", ""); code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("globex lists: %d %v", code, body)
	}
	for _, path := range []string{"/v1/exceptions/" + id} {
		if code, _ := doAs(t, globex, "GET", url+path, "", ""); code != 404 {
			t.Errorf("globex GET %s: %d, want 404", path, code)
		}
	}
	if code, _ := doAs(t, globex, "POST", url+"/v1/exceptions/"+id+":revoke", "application/json", `{}`); code != 404 {
		t.Errorf("globex revoking acme's exception: %d, want 404", code)
	}
	if code, body := doAs(t, globex, "GET", url+"/v1/exceptions/audit", "", ""); code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("globex's audit: %d %v", code, body)
	}

	// Renew, then revoke; both are in the audit log with who and why.
	newExpiry := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	if code, body := doAs(t, acme, "POST", url+"/v1/exceptions/"+id+":update", "application/json",
		`{"expires_at":"`+newExpiry+`","comment":"vendor fix slipped"}`); code != 200 || body["expires_at"] != newExpiry {
		t.Errorf("renewing: %d %v", code, body)
	}
	if code, body := doAs(t, acme, "POST", url+"/v1/exceptions/"+id+":update", "application/json", `{}`); code != 400 {
		t.Errorf("empty update: %d %v, want 400", code, body)
	}
	if code, body := doAs(t, acme, "POST", url+"/v1/exceptions/"+id+":revoke", "application/json",
		`{"comment":"fixed: provenance now generated"}`); code != 200 || body["state"] != "revoked" {
		t.Errorf("revoking: %d %v", code, body)
	}
	if code, body := doAs(t, acme, "POST", url+"/v1/exceptions/"+id+":update", "application/json", `{"ttl":"1d"}`); code != 409 {
		t.Errorf("updating a revoked exception: %d %v, want 409", code, body)
	}
	if g, a := withGaps(acme); g != 1 || a != 0 {
		t.Errorf("after revoking: with_gaps %v accepted %v, want 1 and 0", g, a)
	}
	code, detail := doAs(t, acmeRead, "GET", url+"/v1/exceptions/"+id, "", "")
	history, _ := detail["history"].([]any)
	var actions []string
	for _, h := range history {
		c := h.(map[string]any)
		actions = append(actions, c["action"].(string))
		if !strings.HasPrefix(c["actor"].(string), "token:") {
			t.Errorf("audit entry without its actor: %v", c)
		}
	}
	if code != 200 || strings.Join(actions, ",") != "created,updated,revoked" {
		t.Errorf("exception detail: %d, actions %v, want created,updated,revoked", code, actions)
	}
	if c := history[2].(map[string]any); c["comment"] != "fixed: provenance now generated" {
		t.Errorf("revocation's comment = %v", c["comment"])
	}
	if code, body := doAs(t, acmeRead, "GET", url+"/v1/exceptions", "", ""); code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("active exceptions after the revocation: %d %v, want none", code, body)
	}
	if code, body := doAs(t, acmeRead, "GET", url+"/v1/exceptions?state=revoked", "", ""); code != 200 || len(body["items"].([]any)) != 1 {
		t.Errorf("revoked exceptions: %d %v, want one", code, body)
	}

	// The team-bound token accepts within its team, and sees only that.
	code, teamExc := doAs(t, web, "POST", url+"/v1/exceptions", "application/json",
		`{"code":"sbom.missing","scope":{"team":"web"},"reason":"r","owner":"o","expires_at":"`+newExpiry+`"}`)
	if code != 201 {
		t.Fatalf("team exception: %d %v", code, teamExc)
	}
	if _, body := doAs(t, web, "GET", url+"/v1/exceptions?state=all", "", ""); len(body["items"].([]any)) != 1 {
		t.Errorf("the web token lists %v, want its own exception only", body)
	}
	if _, body := doAs(t, acme, "GET", url+"/v1/exceptions?state=all", "", ""); len(body["items"].([]any)) != 2 {
		t.Errorf("the acme token lists %v, want both", body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
