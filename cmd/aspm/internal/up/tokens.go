package up

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/demo"
)

// The files, in the data directory, that hold the tokens aspm up makes.
const (
	// DemoTokenFile holds the demo's read token.
	DemoTokenFile = "demo-token"
	// AdminTokenFile holds the admin token made when a store has no tokens at all.
	AdminTokenFile = "admin-token"
)

// savedToken returns the secret in dir/name when it is a usable token of st, or makes one with
// mk, stores it, and saves it to dir/name (mode 0600). Reusing the saved token keeps a demo's
// dashboard link working across restarts.
func savedToken(ctx context.Context, st auth.Store, dir, name string, mk func() (string, auth.Token, error)) (secret string, made bool, err error) {
	path := filepath.Join(dir, name)
	if raw, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(raw))
		if _, err := auth.Authenticate(ctx, st, "Bearer "+s, time.Now()); err == nil {
			return s, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading %s: %w", path, err)
	}
	s, tok, err := mk()
	if err != nil {
		return "", false, err
	}
	if err := st.PutToken(ctx, tok); err != nil {
		return "", false, fmt.Errorf("storing token: %w", err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("saving token: %w", err)
	}
	return s, true, nil
}

// demoToken returns the demo's read token, bound to the demo's org.
func demoToken(ctx context.Context, st auth.Store, dir string) (string, error) {
	s, _, err := savedToken(ctx, st, dir, DemoTokenFile, func() (string, auth.Token, error) {
		return auth.New("demo (read-only)", []auth.Scope{auth.ScopeRead}, demo.Org, nil, nil, 0, time.Now())
	})
	return s, err
}

// bootstrapAdmin makes an admin token for every org when the store has no tokens at all, so
// that a new installation can make the tokens it needs (aspm token create, POST /v1/tokens).
// It returns the path of the file holding it, or "" when the store already had tokens.
func bootstrapAdmin(ctx context.Context, st auth.Store, dir string) (string, error) {
	toks, err := st.Tokens(ctx)
	if err != nil {
		return "", fmt.Errorf("listing tokens: %w", err)
	}
	if len(toks) > 0 {
		return "", nil
	}
	_, made, err := savedToken(ctx, st, dir, AdminTokenFile, func() (string, auth.Token, error) {
		return auth.New("bootstrap admin", []auth.Scope{auth.ScopeAdmin}, "*", nil, nil, 0, time.Now())
	})
	if err != nil || !made {
		return "", err
	}
	return filepath.Join(dir, AdminTokenFile), nil
}
