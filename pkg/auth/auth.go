// Package auth is the API's access control: bearer tokens that are random, shown once and
// stored only as a hash, carrying scopes (read, write, admin) and bound to an organisation,
// optionally narrowed to teams and environments. It also holds the per-token rate limiter.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is what a token may do.
type Scope string

// The scopes. Each includes the ones before it: write can read, admin can write.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

var rank = map[Scope]int{ScopeRead: 1, ScopeWrite: 2, ScopeAdmin: 3}

// ParseScope returns s as a Scope, or an error naming the valid ones.
func ParseScope(s string) (Scope, error) {
	if _, ok := rank[Scope(s)]; !ok {
		return "", fmt.Errorf("%w: scope %q: want read, write or admin", ErrInvalid, s)
	}
	return Scope(s), nil
}

// Errors.
var (
	// ErrInvalid marks a token or request that is malformed.
	ErrInvalid = errors.New("invalid")
	// ErrUnauthenticated means no valid token was presented.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the token lacks the scope for the request.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound is returned by token stores for an unknown hash or ID.
	ErrNotFound = errors.New("token not found")
)

// Prefix starts every token, so leaked tokens are easy to find with secret scanners.
const Prefix = "aspm_"

// Token is a token's record: everything but the secret, which is kept only as its hash.
type Token struct {
	// ID is public: it names the token in listings and audit logs.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret token (tokens carry 256 random bits, so a fast
	// hash suffices; nothing else about the secret is stored).
	Hash   string  `json:"-"`
	Scopes []Scope `json:"scopes"`
	// Org binds the token to one organisation; "*" means every organisation (an operator).
	Org string `json:"org"`
	// Teams and Environments, when not empty, narrow what the token sees within Org.
	Teams        []string   `json:"teams,omitempty"`
	Environments []string   `json:"environments,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
}

// Validate reports whether t has an ID, a hash, scopes and an org.
func (t Token) Validate() error {
	if t.ID == "" || len(t.Hash) != 64 {
		return fmt.Errorf("%w: token needs an id and a SHA-256 hash", ErrInvalid)
	}
	if len(t.Scopes) == 0 {
		return fmt.Errorf("%w: token %s has no scopes", ErrInvalid, t.ID)
	}
	for _, s := range t.Scopes {
		if _, ok := rank[s]; !ok {
			return fmt.Errorf("%w: token %s: scope %q", ErrInvalid, t.ID, s)
		}
	}
	if t.Org == "" {
		return fmt.Errorf("%w: token %s is bound to no org (use \"*\" for all)", ErrInvalid, t.ID)
	}
	return nil
}

// Allows reports whether t carries scope s (directly or through a higher one).
func (t Token) Allows(s Scope) bool {
	for _, have := range t.Scopes {
		if rank[have] >= rank[s] {
			return true
		}
	}
	return false
}

// Usable reports why t cannot be used at now (revoked, expired), or nil.
func (t Token) Usable(now time.Time) error {
	if t.RevokedAt != nil {
		return fmt.Errorf("%w: token %s was revoked", ErrUnauthenticated, t.ID)
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return fmt.Errorf("%w: token %s expired at %s", ErrUnauthenticated, t.ID, t.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// Sees reports whether t may see something of org, team and environment.
func (t Token) Sees(org, team, env string) bool {
	if t.Org != "*" && t.Org != org {
		return false
	}
	if len(t.Teams) > 0 && !slices.Contains(t.Teams, team) {
		return false
	}
	if len(t.Environments) > 0 && !slices.Contains(t.Environments, env) {
		return false
	}
	return true
}

// Hash returns the stored form of a secret token.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// New makes a token with the given name, scopes and binding, returning the secret — shown to
// the user once — and the record to store.
func New(name string, scopes []Scope, org string, teams, envs []string, ttl time.Duration, now time.Time) (secret string, t Token, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, fmt.Errorf("generating token: %w", err)
	}
	secret = Prefix + hex.EncodeToString(raw[:])
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, fmt.Errorf("generating token id: %w", err)
	}
	t = Token{
		ID: "tok_" + hex.EncodeToString(id[:]), Name: name, Hash: Hash(secret), Scopes: scopes, Org: org,
		Teams: teams, Environments: envs, CreatedAt: now.UTC().Truncate(time.Second),
	}
	if ttl > 0 {
		exp := t.CreatedAt.Add(ttl)
		t.ExpiresAt = &exp
	}
	return secret, t, t.Validate()
}

// Store keeps token records.
type Store interface {
	// PutToken stores t, replacing a record with the same ID.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists every token, newest first.
	Tokens(ctx context.Context) ([]Token, error)
}

// Authenticate looks up the bearer token in an Authorization header value and checks it is
// usable. Errors wrap ErrUnauthenticated (never saying whether a token exists).
func Authenticate(ctx context.Context, s Store, header string, now time.Time) (Token, error) {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, Prefix) {
		return Token{}, fmt.Errorf("%w: send Authorization: Bearer %s…", ErrUnauthenticated, Prefix)
	}
	h := Hash(strings.TrimSpace(secret))
	t, err := s.TokenByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Token{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return Token{}, fmt.Errorf("looking up token: %w", err)
	}
	// The store looked the hash up; compare again in constant time all the same.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return Token{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err := t.Usable(now); err != nil {
		return Token{}, err
	}
	return t, nil
}

type ctxKey struct{}

// WithToken returns ctx carrying the authenticated token.
func WithToken(ctx context.Context, t Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the authenticated token in ctx.
func FromContext(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(Token)
	return t, ok
}
