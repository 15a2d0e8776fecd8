package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/store"
)

// Error codes of access control.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeRateLimited     = "rate_limited"
	CodeOverloaded      = "overloaded"
)

// Gate bounds how many requests the API serves at once, whatever their tokens: a per-token
// rate does not bound the work of slow queries, and an API that queues them without end
// answers none in time. It is safe for concurrent use.
type Gate struct {
	slots chan struct{}
}

// NewGate returns a Gate of n slots; nil (no bound) when n is not positive.
func NewGate(n int) *Gate {
	if n <= 0 {
		return nil
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// enter takes a slot, waiting at most wait for one; release gives it back. ok is false when
// no slot came free in time.
func (g *Gate) enter(ctx context.Context, wait time.Duration) (release func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// gateWait is how long a request waits for a slot before it is turned away.
const gateWait = 250 * time.Millisecond

// requiredScope is the scope a request needs: admin for token management and the notifier's
// dead letters, write for anything that changes state, read otherwise.
func requiredScope(r *http.Request) auth.Scope {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/tokens"), strings.HasPrefix(r.URL.Path, "/v1/notifications"):
		return auth.ScopeAdmin
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return auth.ScopeRead
	}
	return auth.ScopeWrite
}

// Authenticate wraps next so that every request carries a valid bearer token with the scope
// it needs and stays within the token's rate; the token is in the request's context.
func (a *API) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.Authenticate(r.Context(), a.Tokens, r.Header.Get("Authorization"), a.Now())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if ok, wait := a.Limiter.Allow(tok.ID, a.Now()); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			a.writeError(w, r, &apiError{http.StatusTooManyRequests, CodeRateLimited, "too many requests for this token; retry after the Retry-After seconds"})
			return
		}
		if need := requiredScope(r); !tok.Allows(need) {
			a.writeError(w, r, fmt.Errorf("%w: this token's scopes (%v) do not include %s", auth.ErrForbidden, tok.Scopes, need))
			return
		}
		release, ok := a.Gate.enter(r.Context(), gateWait)
		if !ok {
			w.Header().Set("Retry-After", "1")
			a.writeError(w, r, &apiError{http.StatusTooManyRequests, CodeOverloaded, "the API is serving as many requests as it can; retry after the Retry-After seconds"})
			return
		}
		defer release()
		ctx := auth.WithToken(r.Context(), tok)
		if a.QueryTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, a.QueryTimeout)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// principal returns the request's token; requests reach handlers only through Authenticate.
func principal(r *http.Request) auth.Token {
	t, ok := auth.FromContext(r.Context())
	if !ok {
		// Unreachable behind Authenticate; deny everything rather than allow.
		return auth.Token{Org: "\x00none"}
	}
	return t
}

// narrow applies the token's binding to query filters: a filter outside what the token may
// see is forbidden, and an empty filter takes the token's binding.
func narrow(t auth.Token, org, team, env *string) error {
	bind := func(name string, value *string, allowed []string) error {
		switch {
		case len(allowed) == 0:
			return nil
		case *value == "":
			if len(allowed) > 1 {
				return fmt.Errorf("%w: this token sees several %ss; choose one with ?%s=", auth.ErrForbidden, name, name)
			}
			*value = allowed[0]
		case !contains(allowed, *value):
			return fmt.Errorf("%w: this token cannot see %s %q", auth.ErrForbidden, name, *value)
		}
		return nil
	}
	if t.Org != "*" {
		if err := bind("org", org, []string{t.Org}); err != nil {
			return err
		}
	}
	if err := bind("team", team, t.Teams); err != nil {
		return err
	}
	return bind("env", env, t.Environments)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// visible trims an artifact's detail to the deployments and scores the token may see; found
// is false when nothing is left (the artifact is then reported as not found, so a token does
// not learn that another org runs it).
func visible(t auth.Token, det store.ArtifactDetail) (store.ArtifactDetail, bool) {
	var deps []evidence.Deployment
	envs := map[string]bool{}
	for _, d := range det.Deployments {
		if t.Sees(d.Org, d.Team, d.Environment) {
			deps = append(deps, d)
			envs[d.Environment+"\x00"+d.Org] = true
		}
	}
	if len(deps) == 0 {
		return store.ArtifactDetail{}, false
	}
	var scores []evidence.Score
	for _, s := range det.Scores {
		if envs[s.Environment+"\x00"+s.Org] && t.Sees(s.Org, s.Team, s.Environment) {
			scores = append(scores, s)
		}
	}
	det.Deployments, det.Scores = deps, scores
	if det.Scores == nil {
		det.Scores = []evidence.Score{}
	}
	return det, true
}

var errNotVisible = fmt.Errorf("%w: no such artifact", store.ErrNotFound)
