package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/store"
)

func mustTokenByHash(t *testing.T, s store.Store, hash string) auth.Token {
	t.Helper()
	tok, err := s.TokenByHash(ctxOf(t), hash)
	if err != nil {
		t.Fatalf("TokenByHash(%s): %v", hash, err)
	}
	return tok
}

func mustTokens(t *testing.T, s store.Store) []auth.Token {
	t.Helper()
	ts, err := s.Tokens(ctxOf(t))
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	if ts == nil {
		t.Error("Tokens returned nil, want a non-nil slice")
	}
	return ts
}

func mustPutToken(t *testing.T, s store.Store, tok auth.Token) {
	t.Helper()
	if err := s.PutToken(ctxOf(t), tok); err != nil {
		t.Fatalf("PutToken(%s): %v", tok.ID, err)
	}
}

// testTokens stores two tokens, looks them up by hash, lists them, revokes one and
// authenticates with both secrets.
func testTokens(t *testing.T, s store.Store) {
	if got := mustTokens(t, s); len(got) != 0 {
		t.Errorf("Tokens of an empty store = %+v, want none", got)
	}
	expires := base.Add(30 * 24 * time.Hour)
	ci := auth.Token{ID: "tok_ci", Name: "ci", Hash: auth.Hash("aspm_ci-secret"), Scopes: []auth.Scope{auth.ScopeRead, auth.ScopeWrite},
		Org: "acme", Teams: []string{"pay", "web"}, CreatedAt: base}
	admin := auth.Token{ID: "tok_admin", Name: "operator", Hash: auth.Hash("aspm_admin-secret"), Scopes: []auth.Scope{auth.ScopeAdmin},
		Org: "*", Environments: []string{"prod"}, CreatedAt: base.Add(time.Hour), ExpiresAt: &expires}
	mustPutToken(t, s, ci)
	mustPutToken(t, s, admin)
	for _, want := range []auth.Token{ci, admin} {
		if diff := cmp.Diff(want, mustTokenByHash(t, s, want.Hash), exactOpts); diff != "" {
			t.Errorf("TokenByHash(%s) (-want +got):\n%s", want.ID, diff)
		}
	}
	if diff := cmp.Diff([]auth.Token{admin, ci}, mustTokens(t, s), exactOpts); diff != "" {
		t.Errorf("Tokens, newest first (-want +got):\n%s", diff)
	}

	// Revoking is putting the record again with RevokedAt: it replaces the record.
	revoked := ci
	at := base.Add(2*time.Hour + 123)
	revoked.RevokedAt = &at
	for range 2 {
		mustPutToken(t, s, revoked)
	}
	if diff := cmp.Diff(revoked, mustTokenByHash(t, s, ci.Hash), exactOpts); diff != "" {
		t.Errorf("TokenByHash after revoking (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]auth.Token{admin, revoked}, mustTokens(t, s), exactOpts); diff != "" {
		t.Errorf("Tokens after revoking (-want +got):\n%s", diff)
	}
	now := base.Add(3 * time.Hour)
	if _, err := auth.Authenticate(ctxOf(t), s, "Bearer aspm_ci-secret", now); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate with the revoked token: error = %v, want one wrapping auth.ErrUnauthenticated", err)
	}
	if tok, err := auth.Authenticate(ctxOf(t), s, "Bearer aspm_admin-secret", now); err != nil || tok.ID != admin.ID {
		t.Errorf("Authenticate with the admin token = %s, %v; want %s", tok.ID, err, admin.ID)
	}

	if _, err := s.TokenByHash(ctxOf(t), auth.Hash("aspm_unknown")); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("TokenByHash(unknown) error = %v, want one wrapping auth.ErrNotFound", err)
	}
	for name, mutate := range map[string]func(*auth.Token){
		"no scopes":   func(t *auth.Token) { t.Scopes = nil },
		"no org":      func(t *auth.Token) { t.Org = "" },
		"short hash":  func(t *auth.Token) { t.Hash = "abc" },
		"no creation": func(t *auth.Token) { t.CreatedAt = time.Time{} },
	} {
		bad := admin
		bad.ID = "tok_bad"
		mutate(&bad)
		if err := s.PutToken(ctxOf(t), bad); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("PutToken of a token with %s: error = %v, want one wrapping auth.ErrInvalid", name, err)
		}
	}
	if got := mustTokens(t, s); len(got) != 2 {
		t.Errorf("Tokens after rejected puts: %d, want 2", len(got))
	}
}
