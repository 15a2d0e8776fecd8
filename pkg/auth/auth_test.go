package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
)

// memStore is a token store for these tests of the package's own logic; the real stores
// (SQLite, ClickHouse) pass the store conformance suite.
type memStore map[string]auth.Token

func (m memStore) PutToken(_ context.Context, t auth.Token) error { m[t.Hash] = t; return nil }
func (m memStore) TokenByHash(_ context.Context, h string) (auth.Token, error) {
	t, ok := m[h]
	if !ok {
		return auth.Token{}, auth.ErrNotFound
	}
	return t, nil
}
func (m memStore) Tokens(context.Context) ([]auth.Token, error) { return nil, nil }

func TestNewAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	secret, tok, err := auth.New("ci", []auth.Scope{auth.ScopeRead}, "acme", nil, nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.Prefix) || len(secret) != len(auth.Prefix)+64 || strings.Contains(tok.Hash, secret) || tok.Hash != auth.Hash(secret) {
		t.Fatalf("secret %q, record %+v", secret, tok)
	}
	other, _, _ := auth.New("ci", []auth.Scope{auth.ScopeRead}, "acme", nil, nil, 0, now)
	if other == secret {
		t.Fatal("two tokens with the same secret")
	}
	s := memStore{}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := auth.Authenticate(ctx, s, "Bearer "+secret, now)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for name, header := range map[string]string{
		"missing":      "",
		"basic":        "Basic " + secret,
		"unknown":      "Bearer " + auth.Prefix + strings.Repeat("0", 64),
		"no prefix":    "Bearer " + strings.TrimPrefix(secret, auth.Prefix),
		"lowercase ok": "",
	} {
		if name == "lowercase ok" {
			if _, err := auth.Authenticate(ctx, s, "bearer "+secret, now); err != nil {
				t.Errorf("lowercase scheme: %v", err)
			}
			continue
		}
		if _, err := auth.Authenticate(ctx, s, header, now); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
		}
	}
	if _, err := auth.Authenticate(ctx, s, "Bearer "+secret, now.Add(2*time.Hour)); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	revoked := now
	tok.RevokedAt = &revoked
	_ = s.PutToken(ctx, tok)
	if _, err := auth.Authenticate(ctx, s, "Bearer "+secret, now); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked: %v", err)
	}
}

func TestScopesAndVisibility(t *testing.T) {
	tok := auth.Token{Scopes: []auth.Scope{auth.ScopeWrite}, Org: "acme", Teams: []string{"pay"}}
	if !tok.Allows(auth.ScopeRead) || !tok.Allows(auth.ScopeWrite) || tok.Allows(auth.ScopeAdmin) {
		t.Error("write scope: read and write, not admin")
	}
	if !tok.Sees("acme", "pay", "prod") || tok.Sees("acme", "web", "prod") || tok.Sees("globex", "pay", "prod") {
		t.Error("team-bound token sees the wrong things")
	}
	envTok := auth.Token{Scopes: []auth.Scope{auth.ScopeRead}, Org: "*", Environments: []string{"dev"}}
	if !envTok.Sees("globex", "x", "dev") || envTok.Sees("globex", "x", "prod") {
		t.Error("environment-bound operator token sees the wrong things")
	}
	if _, err := auth.ParseScope("root"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("ParseScope(root) = %v", err)
	}
	if _, _, err := auth.New("x", nil, "acme", nil, nil, 0, time.Now()); err == nil {
		t.Error("a token without scopes was made")
	}
	if _, _, err := auth.New("x", []auth.Scope{auth.ScopeRead}, "", nil, nil, 0, time.Now()); err == nil {
		t.Error("a token bound to no org was made")
	}
}

func TestLimiter(t *testing.T) {
	l := auth.NewLimiter(10, 3)
	now := time.Unix(0, 0)
	for i := range 3 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Errorf("fourth request: ok %v wait %v; want refused with ~100ms wait", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Error("another token is limited by the first one's requests")
	}
	if ok, _ := l.Allow("a", now.Add(150*time.Millisecond)); !ok {
		t.Error("no token refilled after 150ms at 10/s")
	}
}
