package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Exceptions are risk acceptances: an org accepts the gaps of one code within a scope, for a
// reason, with an owner, until an expiry. An accepted gap stays in the gap feed (marked with
// its acceptance) but does not count against coverage (Coverage.WithGaps) while the exception
// is active: from its creation until it expires or is revoked. Every change is kept in an audit
// log.

// The actions an exception's audit log records.
const (
	ExceptionCreated = "created"
	ExceptionUpdated = "updated"
	ExceptionRevoked = "revoked"
)

// MaxExceptionTerm is the longest an exception may run from the time it is created or renewed.
const MaxExceptionTerm = 366 * 24 * time.Hour

// ExceptionScope says which gaps an exception accepts: those of artifacts matching every
// non-empty field. At least one field must be set: an org-wide acceptance of a code is not
// an exception but a policy change, which belongs in the policy.
type ExceptionScope struct {
	// Digest is one artifact.
	Digest evidence.Digest `json:"digest,omitempty"`
	// Repository is a pattern of image repositories (as deployed, e.g.
	// "registry.example.com/acme/payments-*"); '*' matches any run of characters, '/' included.
	Repository  string `json:"repository,omitempty"`
	Team        string `json:"team,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// Exception is the current state of a risk acceptance.
type Exception struct {
	ID    string         `json:"id"`
	Org   string         `json:"org"`
	Code  string         `json:"code"`
	Scope ExceptionScope `json:"scope"`
	// Reason says why the risk is accepted; Owner is who answers for it.
	Reason    string    `json:"reason"`
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// UpdatedAt is the time of the latest change; Version grows with every change (it is the
	// change's time in Unix nanoseconds), so that the latest write wins in every store.
	UpdatedAt time.Time  `json:"updated_at"`
	Version   int64      `json:"version"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// The states of an exception at a time.
const (
	ExceptionStateActive  = "active"
	ExceptionStateExpired = "expired"
	ExceptionStateRevoked = "revoked"
)

// NewExceptionID returns a random exception ID: "exc_" and 16 hex digits.
func NewExceptionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "exc_" + hex.EncodeToString(b[:])
}

var (
	exceptionIDPattern = regexp.MustCompile(`^exc_[0-9a-f]{16}$`)
	gapCodePattern     = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
)

// Validate reports whether e is a complete exception: an ID NewExceptionID could make, an org,
// a gap code, a scope with at least one field (and a valid digest or repository pattern when
// set), a reason and an owner, and times from 1970 to 2105 with the expiry after the creation.
// The error wraps evidence.ErrInvalid.
func (e Exception) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: exception %s: %s", evidence.ErrInvalid, e.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case !exceptionIDPattern.MatchString(e.ID):
		return bad("id: want exc_ and 16 hex digits")
	case e.Org == "" || e.Org == "*":
		return bad("an org is required")
	case !gapCodePattern.MatchString(e.Code):
		return bad("code %q: want a gap code such as sbom.missing", e.Code)
	case strings.TrimSpace(e.Reason) == "":
		return bad("a reason is required")
	case strings.TrimSpace(e.Owner) == "":
		return bad("an owner is required")
	case len(e.Reason) > 4096 || len(e.Owner) > 256:
		return bad("reason or owner too long (at most 4096 and 256 bytes)")
	}
	if err := e.Scope.Validate(); err != nil {
		return fmt.Errorf("exception %s: %w", e.ID, err)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", e.CreatedAt}, {"updated_at", e.UpdatedAt}, {"expires_at", e.ExpiresAt}} {
		if err := checkTime("exception "+f.name, f.t); err != nil {
			return err
		}
	}
	if e.RevokedAt != nil {
		if err := checkTime("exception revoked_at", *e.RevokedAt); err != nil {
			return err
		}
	}
	if !e.ExpiresAt.After(e.CreatedAt) {
		return bad("expires_at %s: want a time after created_at %s", e.ExpiresAt.Format(time.RFC3339),
			e.CreatedAt.Format(time.RFC3339))
	}
	if e.Version <= 0 {
		return bad("version %d: want a positive version", e.Version)
	}
	return nil
}

// Validate reports whether s names at least one of its fields and whether its digest and
// repository pattern are valid when set. The error wraps evidence.ErrInvalid.
func (s ExceptionScope) Validate() error {
	if s == (ExceptionScope{}) {
		return fmt.Errorf("%w: exception scope: give at least one of digest, repository, team and environment",
			evidence.ErrInvalid)
	}
	if s.Digest != "" {
		if _, err := evidence.ParseDigest(string(s.Digest)); err != nil {
			return fmt.Errorf("%w: exception scope: digest: %v", evidence.ErrInvalid, err)
		}
	}
	if s.Repository != "" {
		if strings.ContainsAny(s.Repository, "?[]\\") || strings.TrimLeft(s.Repository, "*") == "" {
			return fmt.Errorf("%w: exception scope: repository %q: want a repository, '*' standing for any run "+
				"of characters (no '?', '[', ']' or '\\', and not '*' alone)", evidence.ErrInvalid, s.Repository)
		}
	}
	return nil
}

// State returns the exception's state at time at.
func (e Exception) State(at time.Time) string {
	switch {
	case e.RevokedAt != nil && !at.Before(*e.RevokedAt):
		return ExceptionStateRevoked
	case !at.Before(e.ExpiresAt):
		return ExceptionStateExpired
	}
	return ExceptionStateActive
}

// Active reports whether e accepts gaps at time at: it was created by then, and neither expired
// nor was revoked.
func (e Exception) Active(at time.Time) bool {
	return !at.Before(e.CreatedAt) && e.State(at) == ExceptionStateActive
}

// Covers reports whether e's code and scope take in a gap of code in org's placement of the
// artifact digest from image repository repo in team and env (whether e is active aside).
func (e Exception) Covers(org, team, env string, digest evidence.Digest, repo, code string) bool {
	s := e.Scope
	return e.Org == org && e.Code == code &&
		(s.Digest == "" || s.Digest == digest) &&
		(s.Team == "" || s.Team == team) &&
		(s.Environment == "" || s.Environment == env) &&
		(s.Repository == "" || RepositoryRegexp(s.Repository).MatchString(repo))
}

// RepositoryRegexp returns the anchored regular expression (RE2 syntax) of a scope's repository
// pattern, in which '*' stands for any run of characters.
func RepositoryRegexp(pattern string) *regexp.Regexp {
	return regexp.MustCompile(RepositoryRegexpSource(pattern))
}

// RepositoryRegexpSource returns the source of RepositoryRegexp(pattern).
func RepositoryRegexpSource(pattern string) string {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return "^" + strings.Join(parts, ".*") + "$"
}

// CheckExpiry reports whether exp is a valid expiry for an exception created or renewed at now:
// after now and at most MaxExceptionTerm later. The error wraps evidence.ErrInvalid.
func CheckExpiry(exp, now time.Time) error {
	if !exp.After(now) {
		return fmt.Errorf("%w: expiry %s is not in the future", evidence.ErrInvalid, exp.Format(time.RFC3339))
	}
	if exp.Sub(now) > MaxExceptionTerm {
		return fmt.Errorf("%w: expiry %s is more than %d days ahead; renew the exception when it is due",
			evidence.ErrInvalid, exp.Format(time.RFC3339), int(MaxExceptionTerm.Hours()/24))
	}
	return nil
}

// NextChange returns a change of e by actor at now, not yet given its action: e with its time
// and version moved on, and at least a nanosecond after its last change, so that the change's
// version is greater whatever the clocks say.
func (e Exception) NextChange(actor, comment string, now time.Time) ExceptionChange {
	now = now.UTC()
	if !now.After(e.UpdatedAt) {
		now = e.UpdatedAt.Add(time.Nanosecond)
	}
	e.UpdatedAt, e.Version = now, now.UnixNano()
	return ExceptionChange{At: now, Actor: actor, Comment: comment, Exception: e}
}

// ParseTTL reads an exception's time to live: a Go duration ("720h") or a number of days
// ("30d").
func ParseTTL(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("ttl %q: want a positive number of days like 30d, or a duration like 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ttl %q: want a positive duration like 720h, or days like 30d", s)
	}
	return d, nil
}

// Acceptance is how the gap feed shows that an active exception accepts a gap.
type Acceptance struct {
	ExceptionID string    `json:"exception_id"`
	Owner       string    `json:"owner"`
	Reason      string    `json:"reason"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Accepting returns the exception among exs that accepts a gap of code in org's placement of
// the artifact digest from repository repo in team and env at time at — of several, the one
// that expires last, then the smallest ID — or nil when none does.
func Accepting(exs []Exception, at time.Time, org, team, env string, digest evidence.Digest, repo, code string) *Exception {
	var best *Exception
	for i := range exs {
		e := &exs[i]
		if !e.Active(at) || !e.Covers(org, team, env, digest, repo, code) {
			continue
		}
		if best == nil || e.ExpiresAt.After(best.ExpiresAt) || (e.ExpiresAt.Equal(best.ExpiresAt) && e.ID < best.ID) {
			best = e
		}
	}
	return best
}

// MarkAccepted sets the Accepted field of each open gap in items that an exception among exs
// accepts at time at.
func MarkAccepted(items []GapItem, exs []Exception, at time.Time) {
	for i := range items {
		g := &items[i]
		if g.State != GapStateOpen {
			continue
		}
		if e := Accepting(exs, at, g.Org, g.Team, g.Environment, g.Image.Digest, g.Image.Repository, g.Code); e != nil {
			g.Accepted = &Acceptance{ExceptionID: e.ID, Owner: e.Owner, Reason: e.Reason, ExpiresAt: e.ExpiresAt}
		}
	}
}

// ExceptionChange is one entry of the audit log: who changed an exception, when, how, and the
// exception as the change left it.
type ExceptionChange struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Comment is what the actor said about the change (a revocation's reason, say).
	Comment   string    `json:"comment,omitempty"`
	Exception Exception `json:"exception"`
}

// Validate reports whether c is a valid change: a known action by a named actor, at the time of
// its exception's version, leaving a valid exception. The error wraps evidence.ErrInvalid.
func (c ExceptionChange) Validate() error {
	if err := c.Exception.Validate(); err != nil {
		return err
	}
	switch {
	case !slices.Contains([]string{ExceptionCreated, ExceptionUpdated, ExceptionRevoked}, c.Action):
		return fmt.Errorf("%w: exception change: action %q: want %q, %q or %q", evidence.ErrInvalid, c.Action,
			ExceptionCreated, ExceptionUpdated, ExceptionRevoked)
	case c.Actor == "":
		return fmt.Errorf("%w: exception change: an actor is required", evidence.ErrInvalid)
	case c.At.UnixNano() != c.Exception.Version || !c.At.Equal(c.Exception.UpdatedAt):
		return fmt.Errorf("%w: exception change: at %s: want the exception's updated_at and version",
			evidence.ErrInvalid, c.At.Format(time.RFC3339Nano))
	case len(c.Comment) > 4096:
		return fmt.Errorf("%w: exception change: comment too long (at most 4096 bytes)", evidence.ErrInvalid)
	}
	return nil
}

// ExceptionQuery narrows an exception listing; empty fields match everything.
type ExceptionQuery struct {
	Org string
	ID  string
}

// ExceptionKeeper keeps exceptions and their audit log.
type ExceptionKeeper interface {
	// WriteExceptionChange records c: its exception becomes the current state unless a newer
	// version is already stored, and the change is appended to the audit log. Writing the
	// same change twice changes nothing. The error wraps evidence.ErrInvalid when c is invalid.
	WriteExceptionChange(ctx context.Context, c ExceptionChange) error
	// Exceptions returns the current state of the exceptions q matches, in every state,
	// ordered by org, then ID.
	Exceptions(ctx context.Context, q ExceptionQuery) ([]Exception, error)
	// ExceptionAudit returns the changes of the exceptions q matches, ordered by time, then
	// exception ID.
	ExceptionAudit(ctx context.Context, q ExceptionQuery) ([]ExceptionChange, error)
}
