// Package github reads artifact attestations from GitHub's attestations API: the Sigstore
// bundles stored for an artifact digest in an organisation
// (GET /orgs/{org}/attestations/{subject_digest}) or a repository
// (GET /repos/{owner}/{repo}/attestations/{subject_digest}), on github.com or GitHub
// Enterprise Server. It follows Link pagination, fetches bundles GitHub only links to
// (bundle_url, plain or snappy-compressed JSON), honours the primary and secondary rate limits
// within a bounded wait, retries server errors a bounded number of times and bounds every
// response it reads. It returns the bundles unverified: verify them with package verify.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aspmhq/aspm/pkg/evidence"
)

// Defaults of Config.
const (
	DefaultBaseURL          = "https://api.github.com"
	DefaultPerPage          = 100
	DefaultMaxPages         = 10
	DefaultMaxResponseBytes = 32 << 20
	DefaultMaxWait          = 60 * time.Second
	// DefaultTimeout bounds each request of the HTTP client New builds when Config has none.
	DefaultTimeout = 30 * time.Second
)

// APIVersion is the REST API version the client asks for (X-GitHub-Api-Version); its list
// responses carry the bundle inline, a bundle_url, or both.
const APIVersion = "2022-11-28"

// maxPerPage is GitHub's per_page limit for the attestations endpoints.
const maxPerPage = 100

// Config configures a Client. The zero value talks to github.com without a token, which
// reads attestations of public repositories.
type Config struct {
	// BaseURL is the REST API root: https://api.github.com (the default) or, for GitHub
	// Enterprise Server, https://HOST/api/v3.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>" to BaseURL's host only; optional.
	// It is never logged or printed: Config redacts it in LogValue, String and GoString.
	Token string
	// HTTPClient makes the requests; when nil, New builds one with DefaultTimeout.
	HTTPClient *http.Client
	// PerPage is the page size asked for (per_page), 1 to 100; 0 means DefaultPerPage.
	PerPage int
	// MaxPages bounds the pages read for one digest; 0 means DefaultMaxPages.
	MaxPages int
	// MaxResponseBytes bounds every response body read, and every decompressed bundle; 0
	// means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxWait is the longest the client waits for a rate limit to reset before giving up
	// with ErrRateLimited; 0 means DefaultMaxWait, a negative value never waits.
	MaxWait time.Duration
}

// ErrInvalidConfig is the class of Config.Validate's errors.
var ErrInvalidConfig = errors.New("invalid GitHub client config")

// Validate reports whether c is usable; zero fields count as their defaults. The error wraps
// ErrInvalidConfig and never contains the token.
func (c Config) Validate() error {
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil {
			return fmt.Errorf("%w: base URL: %w", ErrInvalidConfig, err)
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: base URL %q: want an absolute http(s) URL", ErrInvalidConfig, c.BaseURL)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%w: base URL: want no credentials, query or fragment", ErrInvalidConfig)
		}
	}
	if strings.ContainsAny(c.Token, " \t\r\n") {
		return fmt.Errorf("%w: token contains white space", ErrInvalidConfig)
	}
	if c.PerPage < 0 || c.PerPage > maxPerPage {
		return fmt.Errorf("%w: per page %d: want 1 to %d", ErrInvalidConfig, c.PerPage, maxPerPage)
	}
	if c.MaxPages < 0 {
		return fmt.Errorf("%w: max pages %d is negative", ErrInvalidConfig, c.MaxPages)
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("%w: max response bytes %d is negative", ErrInvalidConfig, c.MaxResponseBytes)
	}
	return nil
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.PerPage == 0 {
		c.PerPage = DefaultPerPage
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	return c
}

func (c Config) redactedToken() string {
	if c.Token == "" {
		return "none"
	}
	return "REDACTED"
}

// LogValue implements slog.LogValuer: c with its token redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("token", c.redactedToken()),
		slog.Int("per_page", c.PerPage),
		slog.Int("max_pages", c.MaxPages),
		slog.Int64("max_response_bytes", c.MaxResponseBytes),
		slog.Duration("max_wait", c.MaxWait),
	)
}

// String returns c with its token redacted, so that %v and %+v do not print it.
func (c Config) String() string {
	return fmt.Sprintf("github.Config{BaseURL:%q Token:%s PerPage:%d MaxPages:%d MaxResponseBytes:%d MaxWait:%s}",
		c.BaseURL, c.redactedToken(), c.PerPage, c.MaxPages, c.MaxResponseBytes, c.MaxWait)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

var _ slog.LogValuer = Config{}

// Client reads GitHub's attestations API. It is safe for concurrent use; build it once.
type Client struct {
	base     *url.URL
	token    string
	hc       *http.Client
	perPage  int
	maxPages int
	maxBytes int64
	maxWait  time.Duration
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
}

// New returns a Client for cfg, with defaults for its zero fields. The error wraps
// ErrInvalidConfig.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("%w: base URL: %w", ErrInvalidConfig, err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{
		base: base, token: cfg.Token, hc: hc,
		perPage: cfg.PerPage, maxPages: cfg.MaxPages, maxBytes: cfg.MaxResponseBytes, maxWait: cfg.MaxWait,
		now: time.Now, sleep: sleepCtx,
	}, nil
}

// Attestation is one attestation GitHub stores for a digest.
type Attestation struct {
	// Bundle is the Sigstore bundle JSON as GitHub stores it (read from BundleURL, and
	// decompressed, when the response did not carry it inline); nil when Err is set. It is
	// not verified.
	Bundle json.RawMessage
	// RepositoryID is the ID of the repository the attestation belongs to.
	RepositoryID int64
	// BundleURL is where GitHub serves the bundle, when the response gave one.
	BundleURL string
	// Err says why Bundle could not be read: the entry has neither a bundle nor a
	// bundle_url, the bundle_url answered with a client error, its body is too large
	// (ErrTooLarge) or neither JSON nor snappy-compressed JSON (ErrMalformedResponse).
	Err error
}

// OrgAttestations lists the attestations whose subject has digest d in the repositories of
// organisation org that the token can read (GitHub indexes subjects by sha256 digest), those
// with predicate type predicateType only when it is not empty. None (GitHub answers 404) is
// an empty slice and no error.
//
// The error wraps evidence.ErrInvalid for a malformed d, ErrRateLimited (a *RateLimitError
// saying when the limit resets) when a rate limit lasts beyond Config.MaxWait, ErrTooLarge
// for a page over Config.MaxResponseBytes, ErrMalformedResponse for a page that is not the
// documented JSON, ErrTooManyPages beyond Config.MaxPages (the attestations of the pages read
// are returned with it; otherwise the result is nil on error), a *APIError for any other
// refusal (401 bad credentials, 403 forbidden, a 5xx after retries, also from a bundle_url),
// the network error after retries, or ctx's error. A bundle that cannot be read for good
// (see Attestation.Err) is reported in its Attestation, not as an error.
func (c *Client) OrgAttestations(ctx context.Context, org string, d evidence.Digest, predicateType string) ([]Attestation, error) {
	if err := checkName("organisation", org); err != nil {
		return nil, fmt.Errorf("listing attestations of org %q: %w", org, err)
	}
	atts, err := c.list(ctx, d, predicateType, "orgs", org)
	if err != nil {
		return atts, fmt.Errorf("listing attestations of org %s for %s: %w", org, d, err)
	}
	return atts, nil
}

// RepoAttestations lists the attestations whose subject has digest d in repository
// owner/repo, as OrgAttestations does for an organisation, with the same error contract.
func (c *Client) RepoAttestations(ctx context.Context, owner, repo string, d evidence.Digest, predicateType string) ([]Attestation, error) {
	if err := errors.Join(checkName("owner", owner), checkName("repository", repo)); err != nil {
		return nil, fmt.Errorf("listing attestations of repo %q/%q: %w", owner, repo, err)
	}
	atts, err := c.list(ctx, d, predicateType, "repos", owner, repo)
	if err != nil {
		return atts, fmt.Errorf("listing attestations of repo %s/%s for %s: %w", owner, repo, d, err)
	}
	return atts, nil
}

// checkName accepts an owner or repository name that is one path segment as it stands.
func checkName(what, name string) error {
	bad := name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\?#%")
	for _, r := range name {
		bad = bad || unicode.IsSpace(r) || unicode.IsControl(r)
	}
	if bad {
		return fmt.Errorf("%w: %s name %q", ErrInvalidArgument, what, name)
	}
	return nil
}

// listPage is the documented list response.
type listPage struct {
	Attestations *[]listEntry `json:"attestations"`
}

type listEntry struct {
	Bundle       json.RawMessage `json:"bundle"`
	RepositoryID int64           `json:"repository_id"`
	BundleURL    string          `json:"bundle_url"`
}

func (c *Client) list(ctx context.Context, d evidence.Digest, predicateType string, segs ...string) ([]Attestation, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	u := c.endpoint(append(segs, "attestations", d.String())...)
	q := url.Values{"per_page": {strconv.Itoa(c.perPage)}}
	if predicateType != "" {
		q.Set("predicate_type", predicateType)
	}
	u.RawQuery = q.Encode()

	var s session
	out := []Attestation{}
	next := u
	for page := 1; ; page++ {
		resp, err := c.get(ctx, &s, next, true)
		if err != nil {
			var ae *APIError
			if page == 1 && errors.As(err, &ae) && ae.Status == http.StatusNotFound && !errors.Is(err, ErrRateLimited) {
				return out, nil
			}
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		var body listPage
		if err := json.Unmarshal(resp.body, &body); err != nil {
			return nil, fmt.Errorf("page %d: %w: %w", page, ErrMalformedResponse, err)
		}
		if body.Attestations == nil {
			return nil, fmt.Errorf("page %d: %w: no attestations array", page, ErrMalformedResponse)
		}
		for i, e := range *body.Attestations {
			a, err := c.attestation(ctx, &s, e)
			if err != nil {
				return nil, fmt.Errorf("page %d, attestation %d: %w", page, i, err)
			}
			out = append(out, a)
		}
		next, err = nextLink(resp.header, next)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page, err)
		}
		if next == nil {
			return out, nil
		}
		if page >= c.maxPages {
			return out, fmt.Errorf("%w: more than %d pages", ErrTooManyPages, c.maxPages)
		}
		if !sameOrigin(next, c.base) {
			return nil, fmt.Errorf("page %d: %w: next page %s is not on %s", page, ErrMalformedResponse, redact(next), c.base.Host)
		}
	}
}

// endpoint returns the API URL of the path segments segs, each escaped.
func (c *Client) endpoint(segs ...string) *url.URL {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/")
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/")
	for _, s := range segs {
		u.Path += "/" + s
		u.RawPath += "/" + url.PathEscape(s)
	}
	return &u
}

// attestation turns one list entry into an Attestation, fetching its bundle_url when the
// entry has no inline bundle. Only a failure worth retrying later is an error.
func (c *Client) attestation(ctx context.Context, s *session, e listEntry) (Attestation, error) {
	a := Attestation{RepositoryID: e.RepositoryID, BundleURL: e.BundleURL}
	inline := bytes.TrimSpace(e.Bundle)
	switch {
	case len(inline) > 0 && inline[0] == '{':
		a.Bundle = json.RawMessage(inline)
		return a, nil
	case e.BundleURL == "" && len(inline) > 0 && string(inline) != "null":
		a.Err = fmt.Errorf("%w: the bundle is not a JSON object", ErrMalformedResponse)
		return a, nil
	case e.BundleURL == "":
		a.Err = fmt.Errorf("%w: the attestation has neither a bundle nor a bundle_url", ErrMalformedResponse)
		return a, nil
	}
	u, err := url.Parse(e.BundleURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		a.Err = fmt.Errorf("%w: bundle_url is not an absolute http(s) URL", ErrMalformedResponse)
		return a, nil
	}
	resp, err := c.get(ctx, s, u, false)
	if err != nil {
		if permanent(err) {
			a.Err = fmt.Errorf("fetching bundle: %w", err)
			return a, nil
		}
		return a, fmt.Errorf("fetching bundle: %w", err)
	}
	a.Bundle, err = decodeBundle(resp.body, c.maxBytes)
	if err != nil {
		a.Err = fmt.Errorf("reading bundle from %s: %w", redact(u), err)
	}
	return a, nil
}

// permanent reports whether err says the resource itself is unusable (too large, refused with
// a client error), rather than that asking again later may succeed.
func permanent(err error) bool {
	if errors.Is(err, ErrTooLarge) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Status < 500 && !errors.Is(err, ErrRateLimited)
}
