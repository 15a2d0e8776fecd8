package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

// ExceptionRequest is the body of POST /v1/exceptions: a risk acceptance of the gaps of Code
// within Scope. The expiry is ExpiresAt, or TTL from now ("720h", "30d"); one is required.
type ExceptionRequest struct {
	Org       string               `json:"org,omitempty"`
	Code      string               `json:"code"`
	Scope     store.ExceptionScope `json:"scope"`
	Reason    string               `json:"reason"`
	Owner     string               `json:"owner"`
	ExpiresAt *time.Time           `json:"expires_at,omitempty"`
	TTL       string               `json:"ttl,omitempty"`
}

// ExceptionChangeRequest is the body of POST /v1/exceptions/{id}:update and {id}:revoke. An
// update changes the fields given; a revocation takes only a comment.
type ExceptionChangeRequest struct {
	Reason    string     `json:"reason,omitempty"`
	Owner     string     `json:"owner,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	TTL       string     `json:"ttl,omitempty"`
	Comment   string     `json:"comment,omitempty"`
}

// ExceptionView is an exception with its state now, and, in GET /v1/exceptions/{id}, its
// audit log.
type ExceptionView struct {
	store.Exception
	State   string                  `json:"state"`
	History []store.ExceptionChange `json:"history,omitempty"`
}

// expiry resolves an expiry given as a time or a TTL, at most store.MaxExceptionTerm after now.
func expiry(at *time.Time, ttl string, now time.Time) (time.Time, error) {
	var exp time.Time
	switch {
	case at != nil && ttl != "":
		return time.Time{}, invalid("give expires_at or ttl, not both")
	case at != nil:
		exp = at.UTC()
	case ttl != "":
		d, err := store.ParseTTL(ttl)
		if err != nil {
			return time.Time{}, invalid("%v", err)
		}
		exp = now.Add(d)
	default:
		return time.Time{}, invalid("an expiry is required: expires_at (RFC 3339) or ttl (like 30d)")
	}
	if err := store.CheckExpiry(exp, now); err != nil {
		return time.Time{}, err
	}
	return exp, nil
}

// actor names the token making a change, for the audit log.
func actor(t auth.Token) string {
	if t.Name != "" {
		return "token:" + t.ID + " (" + t.Name + ")"
	}
	return "token:" + t.ID
}

// mayAccept reports whether token t may accept or see risks of org within scope: its org, and,
// when it is bound to teams or environments, a scope naming one of them.
func mayAccept(t auth.Token, org string, scope store.ExceptionScope) error {
	if t.Org != "*" && org != t.Org {
		return fmt.Errorf("%w: this token cannot manage exceptions of org %q", auth.ErrForbidden, org)
	}
	if len(t.Teams) > 0 && !contains(t.Teams, scope.Team) {
		return fmt.Errorf("%w: this token is limited to teams %v: the exception's scope must name one", auth.ErrForbidden, t.Teams)
	}
	if len(t.Environments) > 0 && !contains(t.Environments, scope.Environment) {
		return fmt.Errorf("%w: this token is limited to environments %v: the exception's scope must name one",
			auth.ErrForbidden, t.Environments)
	}
	return nil
}

// createException serves POST /v1/exceptions (write).
func (a *API) createException(w http.ResponseWriter, r *http.Request) {
	var req ExceptionRequest
	if err := decodeJSON(w, r, a.MaxBodyBytes, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	tok := principal(r)
	if req.Org == "" {
		req.Org = tok.Org
	}
	if req.Org == "*" {
		a.writeError(w, r, invalid("this token sees every org: name the exception's org"))
		return
	}
	if err := mayAccept(tok, req.Org, req.Scope); err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.Now().UTC()
	exp, err := expiry(req.ExpiresAt, req.TTL, now)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c := store.ExceptionChange{At: now, Actor: actor(tok), Action: store.ExceptionCreated, Exception: store.Exception{
		ID: store.NewExceptionID(), Org: req.Org, Code: req.Code, Scope: req.Scope, Reason: strings.TrimSpace(req.Reason),
		Owner: strings.TrimSpace(req.Owner), ExpiresAt: exp, CreatedAt: now, CreatedBy: actor(tok),
		UpdatedAt: now, Version: now.UnixNano(),
	}}
	if err := a.Exceptions.WriteExceptionChange(r.Context(), c); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.logger(r).Info("exception created", "id", c.Exception.ID, "org", c.Exception.Org, "code", c.Exception.Code,
		"by", tok.ID, "expires_at", exp)
	writeJSON(w, http.StatusCreated, ExceptionView{Exception: c.Exception, State: c.Exception.State(now),
		History: []store.ExceptionChange{c}})
}

// listExceptions serves GET /v1/exceptions?state=active|expired|revoked|all&code=&team=&env=:
// the exceptions the token may see, active ones by default.
func (a *API) listExceptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = store.ExceptionStateActive
	case store.ExceptionStateActive, store.ExceptionStateExpired, store.ExceptionStateRevoked, "all":
	default:
		a.writeError(w, r, invalid("state %q: want active, expired, revoked or all", state))
		return
	}
	tok := principal(r)
	org := q.Get("org")
	if err := narrow(tok, &org, new(string), new(string)); err != nil {
		a.writeError(w, r, err)
		return
	}
	exs, err := a.Exceptions.Exceptions(r.Context(), store.ExceptionQuery{Org: org})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.Now()
	out := []ExceptionView{}
	for _, e := range exs {
		st := e.State(now)
		switch {
		case state != "all" && st != state,
			q.Get("code") != "" && e.Code != q.Get("code"),
			q.Get("team") != "" && e.Scope.Team != q.Get("team"),
			q.Get("env") != "" && e.Scope.Environment != q.Get("env"),
			mayAccept(tok, e.Org, e.Scope) != nil:
			continue
		}
		out = append(out, ExceptionView{Exception: e, State: st})
	}
	writeJSON(w, http.StatusOK, page[ExceptionView]{Items: out})
}

// exception returns the exception id as the token may see it, or an error that is not found.
func (a *API) exception(ctx context.Context, tok auth.Token, id string) (store.Exception, error) {
	notFound := &apiError{http.StatusNotFound, CodeNotFound, "no such exception"}
	org := ""
	if tok.Org != "*" {
		org = tok.Org
	}
	exs, err := a.Exceptions.Exceptions(ctx, store.ExceptionQuery{Org: org, ID: id})
	if err != nil {
		return store.Exception{}, err
	}
	if len(exs) != 1 || mayAccept(tok, exs[0].Org, exs[0].Scope) != nil {
		return store.Exception{}, notFound
	}
	return exs[0], nil
}

// getException serves GET /v1/exceptions/{id}: the exception and its audit log.
func (a *API) getException(w http.ResponseWriter, r *http.Request) {
	tok := principal(r)
	e, err := a.exception(r.Context(), tok, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	history, err := a.Exceptions.ExceptionAudit(r.Context(), store.ExceptionQuery{Org: e.Org, ID: e.ID})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ExceptionView{Exception: e, State: e.State(a.Now()), History: history})
}

// exceptionAudit serves GET /v1/exceptions/audit: every change to the exceptions the token may
// see, oldest first.
func (a *API) exceptionAudit(w http.ResponseWriter, r *http.Request) {
	tok := principal(r)
	org := r.URL.Query().Get("org")
	if err := narrow(tok, &org, new(string), new(string)); err != nil {
		a.writeError(w, r, err)
		return
	}
	changes, err := a.Exceptions.ExceptionAudit(r.Context(), store.ExceptionQuery{Org: org})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := []store.ExceptionChange{}
	for _, c := range changes {
		if mayAccept(tok, c.Exception.Org, c.Exception.Scope) == nil {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, page[store.ExceptionChange]{Items: out})
}

// changeException serves POST /v1/exceptions/{id}:update and POST /v1/exceptions/{id}:revoke
// (write). Revoking a revoked exception changes nothing; an expired one cannot be updated (make
// a new one).
func (a *API) changeException(w http.ResponseWriter, r *http.Request) {
	id, action, ok := strings.Cut(r.PathValue("action"), ":")
	if !ok || (action != "update" && action != "revoke") {
		a.writeError(w, r, &apiError{http.StatusNotFound, CodeNotFound,
			"unknown action: POST /v1/exceptions/{id}:update or /v1/exceptions/{id}:revoke"})
		return
	}
	var req ExceptionChangeRequest
	if err := decodeJSON(w, r, a.MaxBodyBytes, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	tok := principal(r)
	e, err := a.exception(r.Context(), tok, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c := e.NextChange(actor(tok), req.Comment, a.Now())
	now := c.At
	switch action {
	case "revoke":
		if req.Reason != "" || req.Owner != "" || req.ExpiresAt != nil || req.TTL != "" {
			a.writeError(w, r, invalid("a revocation takes only a comment"))
			return
		}
		if e.RevokedAt != nil {
			writeJSON(w, http.StatusOK, ExceptionView{Exception: e, State: e.State(now)})
			return
		}
		c.Action = store.ExceptionRevoked
		c.Exception.RevokedAt = &now
	case "update":
		if st := e.State(now); st != store.ExceptionStateActive {
			a.writeError(w, r, &apiError{http.StatusConflict, CodeConflict,
				fmt.Sprintf("exception %s is %s: create a new one", e.ID, st)})
			return
		}
		c.Action = store.ExceptionUpdated
		if req.Reason != "" {
			c.Exception.Reason = strings.TrimSpace(req.Reason)
		}
		if req.Owner != "" {
			c.Exception.Owner = strings.TrimSpace(req.Owner)
		}
		if req.ExpiresAt != nil || req.TTL != "" {
			exp, err := expiry(req.ExpiresAt, req.TTL, now)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			c.Exception.ExpiresAt = exp
		}
		if c.Exception.Reason == e.Reason && c.Exception.Owner == e.Owner && c.Exception.ExpiresAt.Equal(e.ExpiresAt) {
			a.writeError(w, r, invalid("nothing to update: give reason, owner, expires_at or ttl"))
			return
		}
	}
	if err := a.Exceptions.WriteExceptionChange(r.Context(), c); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.logger(r).Info("exception "+c.Action, "id", e.ID, "org", e.Org, "by", tok.ID)
	writeJSON(w, http.StatusOK, ExceptionView{Exception: c.Exception, State: c.Exception.State(now)})
}

// acceptances returns the exceptions of org (every org when empty) and a short version of those
// active now, which changes when the set of accepted gaps may.
func (a *API) acceptances(ctx context.Context, org string) ([]store.Exception, string, error) {
	exs, err := a.Exceptions.Exceptions(ctx, store.ExceptionQuery{Org: org})
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	now := a.Now()
	for _, e := range exs {
		if e.Active(now) {
			fmt.Fprintf(h, "%s@%d\x00", e.ID, e.Version)
		}
	}
	return exs, hex.EncodeToString(h.Sum(nil)[:8]), nil
}
