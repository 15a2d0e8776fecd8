package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name         string   `json:"name"`
	Scopes       []string `json:"scopes"`
	Org          string   `json:"org"`
	Teams        []string `json:"teams,omitempty"`
	Environments []string `json:"environments,omitempty"`
	// TTL is a Go duration ("720h"); empty means no expiry.
	TTL string `json:"ttl,omitempty"`
}

// createToken serves POST /v1/tokens (admin): the secret is in the answer, once. An admin
// bound to an org can only make tokens within what it sees itself.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if err := decodeJSON(w, r, a.MaxBodyBytes, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	admin := principal(r)
	if req.Org == "" {
		req.Org = admin.Org
	}
	if err := withinBinding(admin, req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var scopes []auth.Scope
	for _, s := range req.Scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			a.writeError(w, r, invalid("%v", err))
			return
		}
		scopes = append(scopes, sc)
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			a.writeError(w, r, invalid("ttl %q: want a positive duration like 720h", req.TTL))
			return
		}
		ttl = d
	}
	secret, tok, err := auth.New(req.Name, scopes, req.Org, req.Teams, req.Environments, ttl, a.Now())
	if err != nil {
		a.writeError(w, r, invalid("%v", err))
		return
	}
	if err := a.Tokens.PutToken(r.Context(), tok); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.logger(r).Info("token created", "id", tok.ID, "by", admin.ID, "org", tok.Org, "scopes", tok.Scopes)
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "record": tok,
		"note": "the token is shown once; store it now"})
}

// withinBinding refuses a token wider than the admin making it.
func withinBinding(admin auth.Token, req TokenRequest) error {
	if admin.Org != "*" && req.Org != admin.Org {
		return fmt.Errorf("%w: an admin of org %q cannot make tokens for org %q", auth.ErrForbidden, admin.Org, req.Org)
	}
	narrower := func(name string, have, want []string) error {
		if len(have) == 0 {
			return nil
		}
		if len(want) == 0 {
			return fmt.Errorf("%w: this admin is limited to %ss %v; the new token must be too", auth.ErrForbidden, name, have)
		}
		for _, v := range want {
			if !contains(have, v) {
				return fmt.Errorf("%w: this admin cannot grant %s %q", auth.ErrForbidden, name, v)
			}
		}
		return nil
	}
	if err := narrower("team", admin.Teams, req.Teams); err != nil {
		return err
	}
	return narrower("environment", admin.Environments, req.Environments)
}

// listTokens serves GET /v1/tokens (admin): the records the admin may see, never secrets.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := a.Tokens.Tokens(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	admin := principal(r)
	out := []auth.Token{}
	for _, t := range toks {
		if admin.Org == "*" || t.Org == admin.Org {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, page[auth.Token]{Items: out})
}

// revokeToken serves POST /v1/tokens/{id}:revoke (admin).
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("action"), ":revoke")
	if !ok {
		a.writeError(w, r, &apiError{http.StatusNotFound, CodeNotFound, "unknown action: POST /v1/tokens/{id}:revoke is the one there is"})
		return
	}
	toks, err := a.Tokens.Tokens(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	admin := principal(r)
	for _, t := range toks {
		if t.ID != id || (admin.Org != "*" && t.Org != admin.Org) {
			continue
		}
		if t.RevokedAt == nil { // revoking again keeps the first revocation's time
			now := a.Now().UTC().Truncate(time.Second)
			t.RevokedAt = &now
			if err := a.Tokens.PutToken(r.Context(), t); err != nil {
				a.writeError(w, r, err)
				return
			}
			a.logger(r).Info("token revoked", "id", t.ID, "by", admin.ID)
		}
		writeJSON(w, http.StatusOK, t)
		return
	}
	a.writeError(w, r, &apiError{http.StatusNotFound, CodeNotFound, "no such token"})
}
