// Package httpapi is the REST API: coverage, artifact detail and deployment push, with JSON
// errors carrying a stable code.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aspmhq/aspm/pkg/auth"
	"github.com/aspmhq/aspm/pkg/bus"
	"github.com/aspmhq/aspm/pkg/event"
	"github.com/aspmhq/aspm/pkg/evidence"
	"github.com/aspmhq/aspm/pkg/report"
	"github.com/aspmhq/aspm/pkg/store"
)

// MaxDeploymentsPerRequest bounds one POST /v1/deployments.
const MaxDeploymentsPerRequest = 1000

// Publisher sends messages to the bus.
type Publisher interface {
	Publish(ctx context.Context, subject string, m bus.Message) error
}

var _ Publisher = (*bus.Bus)(nil)

// API serves the /v1 routes.
type API struct {
	Store     store.Reader
	Analytics Analytics
	Tokens    auth.Store
	// Exceptions keeps the risk acceptances and their audit log.
	Exceptions store.ExceptionKeeper
	Limiter    *auth.Limiter
	// Gate bounds the requests served at once (nil: no bound); over it a request gets 429
	// overloaded. QueryTimeout, when positive, bounds each request's work: a query still
	// running then is abandoned with 503 unavailable.
	Gate         *Gate
	QueryTimeout time.Duration
	Publisher    Publisher
	Log          *slog.Logger
	MaxBodyBytes int64
	Now          func() time.Time
	// Notifications, when set, adds tickets to gaps and lists dead letters; nil when no
	// notifier runs.
	Notifications Notifications
}

// Router is what Register adds routes to; *http.ServeMux is one, and tests record the patterns
// with another.
type Router interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

var _ Router = (*http.ServeMux)(nil)

// Register adds the API's routes to mux.
func (a *API) Register(mux Router) {
	mux.HandleFunc("GET /v1/coverage", a.coverage)
	mux.HandleFunc("GET /v1/coverage/trend", a.trend)
	mux.HandleFunc("GET /v1/artifacts", a.listArtifacts)
	mux.HandleFunc("GET /v1/artifacts/{digest}", a.artifact)
	mux.HandleFunc("POST /v1/artifacts/{action}", a.artifactAction)
	mux.HandleFunc("GET /v1/gaps", a.gaps)
	mux.HandleFunc("GET /v1/components", a.components)
	mux.HandleFunc("GET /v1/deployments", a.listDeployments)
	mux.HandleFunc("POST /v1/deployments", a.postDeployments)
	mux.HandleFunc("POST /v1/tokens", a.createToken)
	mux.HandleFunc("GET /v1/tokens", a.listTokens)
	mux.HandleFunc("POST /v1/tokens/{action}", a.revokeToken)
	mux.HandleFunc("GET /v1/exceptions", a.listExceptions)
	mux.HandleFunc("POST /v1/exceptions", a.createException)
	mux.HandleFunc("GET /v1/exceptions/audit", a.exceptionAudit)
	mux.HandleFunc("GET /v1/reports/ssdf", a.reportHandler(report.SSDF))
	mux.HandleFunc("GET /v1/reports/fedramp", a.reportHandler(report.FedRAMP))
	mux.HandleFunc("GET /v1/exceptions/{id}", a.getException)
	mux.HandleFunc("POST /v1/exceptions/{action}", a.changeException)
	mux.HandleFunc("GET /v1/notifications/dead-letters", a.deadLetters)
}

// decodeJSON reads a JSON object body of at most max bytes into v, refusing unknown fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, CodeUnsupportedCT, "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return invalid("decoding body: %v", err)
	}
	if dec.More() {
		return invalid("unexpected data after the JSON value")
	}
	return nil
}

// Error codes, stable for automation.
const (
	CodeInvalid       = "invalid_argument"
	CodeNotFound      = "not_found"
	CodeTooLarge      = "payload_too_large"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
	CodeUnsupportedCT = "unsupported_media_type"
	CodeConflict      = "conflict"
)

// apiError is an error with an HTTP status and a stable code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, CodeInvalid, fmt.Sprintf(format, args...)}
}

// writeError maps err to a status and code; it is the one place that does.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae      *apiError
		tooBig  *http.MaxBytesError
		status  = http.StatusInternalServerError
		code    = CodeInternal
		message = "internal error"
	)
	switch {
	case errors.As(err, &ae):
		status, code, message = ae.status, ae.code, ae.msg
	case errors.Is(err, auth.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="aspm"`)
		status, code, message = http.StatusUnauthorized, CodeUnauthenticated, err.Error()
	case errors.Is(err, auth.ErrForbidden):
		status, code, message = http.StatusForbidden, CodeForbidden, err.Error()
	case errors.As(err, &tooBig):
		status, code, message = http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, store.ErrNotFound):
		status, code, message = http.StatusNotFound, CodeNotFound, err.Error()
	case errors.Is(err, evidence.ErrInvalid), errors.Is(err, auth.ErrInvalid):
		status, code, message = http.StatusBadRequest, CodeInvalid, err.Error()
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
		w.Header().Set("Retry-After", "5")
		status, code = http.StatusServiceUnavailable, CodeUnavailable
		message = fmt.Sprintf("the request did not finish within the API's query timeout (%s); narrow it or retry later", a.QueryTimeout)
	}
	if status >= 500 {
		a.logger(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := map[string]string{"code": code, "message": message}
	if id := RequestID(r.Context()); id != "" {
		body["request_id"] = id
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *API) coverage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cq := store.CoverageQuery{Org: q.Get("org"), Team: q.Get("team"), Environment: q.Get("env")}
	if err := narrow(principal(r), &cq.Org, &cq.Team, &cq.Environment); err != nil {
		a.writeError(w, r, err)
		return
	}
	cov, err := a.Store.Coverage(r.Context(), cq)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cov)
}

// GapView is a gap with the environment it was found in.
type GapView struct {
	Environment string `json:"environment"`
	evidence.Gap
}

// ArtifactView is the body of GET /v1/artifacts/{digest}.
type ArtifactView struct {
	Digest     evidence.Digest `json:"digest"`
	Repository string          `json:"repository"`
	// SLSALevel and Risk are the highest over the environments the artifact is deployed to.
	SLSALevel          evidence.Level        `json:"slsa_level"`
	Risk               int                   `json:"risk"`
	VerifiedProvenance bool                  `json:"verified_provenance"`
	Gaps               []GapView             `json:"gaps"`
	CollectedAt        time.Time             `json:"collected_at"`
	Evidence           []evidence.Evidence   `json:"evidence"`
	Errors             []string              `json:"errors,omitempty"`
	Scores             []evidence.Score      `json:"scores"`
	Deployments        []evidence.Deployment `json:"deployments"`
}

func (a *API) artifact(w http.ResponseWriter, r *http.Request) {
	d, err := evidence.ParseDigest(r.PathValue("digest"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	det, err := a.Store.Artifact(r.Context(), d)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	det, ok := visible(principal(r), det)
	if !ok {
		a.writeError(w, r, errNotVisible)
		return
	}
	v := ArtifactView{
		Digest: det.Image.Digest, Repository: det.Image.Repository, Gaps: []GapView{},
		CollectedAt: det.CollectedAt, Evidence: det.Evidence, Errors: det.Errors, Scores: det.Scores, Deployments: det.Deployments,
	}
	for _, s := range det.Scores {
		v.SLSALevel = max(v.SLSALevel, s.Level)
		v.Risk = max(v.Risk, s.Risk)
		v.VerifiedProvenance = v.VerifiedProvenance || s.VerifiedProvenance
		for _, g := range s.Gaps {
			v.Gaps = append(v.Gaps, GapView{Environment: s.Environment, Gap: g})
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// artifactAction serves POST /v1/artifacts/{digest}:rescan: it asks ingest to collect the
// artifact's evidence again (it often appears after deployment).
func (a *API) artifactAction(w http.ResponseWriter, r *http.Request) {
	digest, action, ok := strings.Cut(r.PathValue("action"), ":rescan")
	if !ok || action != "" {
		a.writeError(w, r, &apiError{http.StatusNotFound, CodeNotFound, "unknown action: POST /v1/artifacts/{digest}:rescan is the one there is"})
		return
	}
	d, err := evidence.ParseDigest(digest)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	det, err := a.Store.Artifact(r.Context(), d)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, ok := visible(principal(r), det); !ok {
		a.writeError(w, r, errNotVisible)
		return
	}
	m := event.NewScanRequested(det.Image, a.Now())
	if err := a.Publisher.Publish(r.Context(), event.SubjectScanRequested, m); err != nil {
		a.writeError(w, r, &apiError{http.StatusServiceUnavailable, CodeUnavailable, "could not queue the rescan: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": m.ID, "image": det.Image.String()})
}

// DeploymentRequest is one deployment in the body of POST /v1/deployments.
type DeploymentRequest struct {
	Image       string     `json:"image"`
	Environment string     `json:"environment"`
	Cluster     string     `json:"cluster"`
	Namespace   string     `json:"namespace"`
	Workload    string     `json:"workload"`
	Org         string     `json:"org"`
	Team        string     `json:"team"`
	ObservedAt  *time.Time `json:"observed_at,omitempty"`
}

func (a *API) postDeployments(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		a.writeError(w, r, &apiError{http.StatusUnsupportedMediaType, CodeUnsupportedCT, "Content-Type must be application/json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.MaxBodyBytes))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	reqs, err := decodeDeployments(body)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	now := a.Now().UTC().Truncate(time.Second)
	deps := make([]evidence.Deployment, 0, len(reqs))
	for i, rq := range reqs {
		img, err := evidence.ParseImageRef(rq.Image)
		if err != nil {
			a.writeError(w, r, invalid("deployment %d: %v", i, err))
			return
		}
		d := evidence.Deployment{Image: img, Environment: rq.Environment, Cluster: rq.Cluster, Namespace: rq.Namespace,
			Workload: rq.Workload, Org: rq.Org, Team: rq.Team, ObservedAt: now}
		if rq.ObservedAt != nil {
			d.ObservedAt = rq.ObservedAt.UTC()
			// Stores keep times from 1970; a clock far ahead would make this observation
			// outrank every later one.
			if d.ObservedAt.Year() < 1970 || d.ObservedAt.After(now.Add(5*time.Minute)) {
				a.writeError(w, r, invalid("deployment %d: observed_at %s: want a time from 1970 to now", i, d.ObservedAt.Format(time.RFC3339)))
				return
			}
		}
		if err := d.Validate(); err != nil {
			a.writeError(w, r, invalid("deployment %d: %v", i, err))
			return
		}
		if !principal(r).Sees(d.Org, d.Team, d.Environment) {
			a.writeError(w, r, fmt.Errorf("%w: deployment %d: this token cannot write to org %q, team %q, environment %q", auth.ErrForbidden, i, d.Org, d.Team, d.Environment))
			return
		}
		deps = append(deps, d)
	}
	ids := make([]string, 0, len(deps))
	for _, d := range deps {
		m := event.NewDeployObserved(d)
		if err := a.Publisher.Publish(r.Context(), event.SubjectDeployObserved, m); err != nil {
			a.writeError(w, r, &apiError{http.StatusServiceUnavailable, CodeUnavailable, "could not queue deployment: " + err.Error()})
			return
		}
		ids = append(ids, m.ID)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": len(ids), "ids": ids})
}

// decodeDeployments accepts one deployment object or a list of them.
func decodeDeployments(body []byte) ([]DeploymentRequest, error) {
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return nil, invalid("empty body: want a deployment object or a list of them")
	}
	var reqs []DeploymentRequest
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if trimmed[0] == '[' {
		if err := dec.Decode(&reqs); err != nil {
			return nil, invalid("decoding deployments: %v", err)
		}
	} else {
		var one DeploymentRequest
		if err := dec.Decode(&one); err != nil {
			return nil, invalid("decoding deployment: %v", err)
		}
		reqs = []DeploymentRequest{one}
	}
	if dec.More() {
		return nil, invalid("unexpected data after the JSON value")
	}
	if len(reqs) == 0 {
		return nil, invalid("no deployments in the list")
	}
	if len(reqs) > MaxDeploymentsPerRequest {
		return nil, invalid("%d deployments: at most %d per request", len(reqs), MaxDeploymentsPerRequest)
	}
	return slices.Clip(reqs), nil
}
