package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
)

const (
	// maxTries bounds the attempts of one request failing with a server error or a network
	// error; the waits between them grow from firstBackoff.
	maxTries     = 3
	firstBackoff = time.Second
	// maxRateWaits bounds how many times one request waits for a rate limit.
	maxRateWaits = 3
	// minRateWait is the least the client waits after GitHub refused it for a rate limit, so
	// that a reset time in the past (clock skew) does not make it retry at once.
	minRateWait = time.Second
	// secondaryWait is how long GitHub asks clients to wait after a rate limit response that
	// names no time.
	secondaryWait = time.Minute
	userAgent     = "aspm-github-attestations"
)

// response is a response read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// session is the state of one listing: when GitHub said no API requests remain until.
type session struct {
	until time.Time
}

// get requests u, honouring rate limits and retrying server and network errors. api says u
// is a REST API URL (GitHub's headers are sent, and its rate limit applies). It returns the
// response when it is a success; a refusal is a *APIError, wrapped in a *RateLimitError when
// it is a rate limit the client will not wait for.
func (c *Client) get(ctx context.Context, s *session, u *url.URL, api bool) (*response, error) {
	tries, waits := 0, 0
	for {
		if api && !s.until.IsZero() {
			until := s.until
			s.until = time.Time{}
			if err := c.waitUntil(ctx, until, nil, &waits); err != nil {
				return nil, err
			}
		}
		resp, err := c.do(ctx, u, api)
		if err != nil {
			if errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
				return nil, err
			}
			if tries++; tries >= maxTries {
				return nil, err
			}
			if err := c.backoff(ctx, tries); err != nil {
				return nil, err
			}
			continue
		}
		if resp.status >= 200 && resp.status < 300 {
			if until, ok := exhausted(resp.header); ok && api {
				s.until = until
			}
			return resp, nil
		}
		ae := apiError(resp.status, resp.body)
		if until, ok := rateLimited(resp, c.now()); ok {
			if err := c.waitUntil(ctx, until, ae, &waits); err != nil {
				return nil, err
			}
			continue
		}
		if resp.status >= 500 {
			if tries++; tries < maxTries {
				if err := c.backoff(ctx, tries); err != nil {
					return nil, err
				}
				continue
			}
		}
		return nil, fmt.Errorf("GET %s: %w", redact(u), ae)
	}
}

// waitUntil waits until until when that is within MaxWait, and fails with a
// *RateLimitError otherwise.
func (c *Client) waitUntil(ctx context.Context, until time.Time, ae *APIError, waits *int) error {
	wait := until.Sub(c.now())
	if ae != nil {
		wait = max(wait, minRateWait)
	}
	if wait <= 0 {
		return nil
	}
	if c.maxWait < 0 || wait > c.maxWait || *waits >= maxRateWaits {
		return &RateLimitError{Until: until, Wait: wait, API: ae}
	}
	*waits++
	if err := c.sleep(ctx, wait); err != nil {
		return fmt.Errorf("waiting %s for GitHub's rate limit to reset at %s: %w", wait.Round(time.Second), until.UTC().Format(time.RFC3339), err)
	}
	return nil
}

func (c *Client) backoff(ctx context.Context, tries int) error {
	d := firstBackoff << (tries - 1)
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("waiting %s to retry: %w", d, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do makes one request and reads its body, up to MaxResponseBytes.
func (c *Client) do(ctx context.Context, u *url.URL, api bool) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", redact(u), err)
	}
	req.Header.Set("User-Agent", userAgent)
	if api {
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", APIVersion)
	}
	// The token is for the API host only: a bundle_url usually points at blob storage.
	if c.token != "" && sameOrigin(u, c.base) {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error repeats the URL with its query; name it once, without.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.maxBytes {
		return nil, fmt.Errorf("GET %s: %w: %d bytes, limit %d", redact(u), ErrTooLarge, resp.ContentLength, c.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", redact(u), err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("GET %s: %w: more than %d bytes", redact(u), ErrTooLarge, c.maxBytes)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// apiError reads GitHub's error body.
func apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var b struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Message, e.DocumentationURL = b.Message, b.DocumentationURL
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// rateLimited reads a refusal as GitHub documents rate limits: 403 or 429 with Retry-After
// (seconds to wait, secondary limits), or with X-RateLimit-Remaining 0 (wait until
// X-RateLimit-Reset, in Unix seconds), or a 429 naming no time (wait a minute).
func rateLimited(resp *response, now time.Time) (time.Time, bool) {
	if resp.status != http.StatusForbidden && resp.status != http.StatusTooManyRequests {
		return time.Time{}, false
	}
	if v := strings.TrimSpace(resp.header.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			return now.Add(time.Duration(n) * time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return t, true
		}
	}
	if strings.TrimSpace(resp.header.Get("X-RateLimit-Remaining")) == "0" {
		if t, ok := resetTime(resp.header); ok {
			return t, true
		}
		return now.Add(secondaryWait), true
	}
	if resp.status == http.StatusTooManyRequests {
		return now.Add(secondaryWait), true
	}
	return time.Time{}, false
}

// exhausted reports when the primary rate limit resets if a successful response says no
// requests remain.
func exhausted(h http.Header) (time.Time, bool) {
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) != "0" {
		return time.Time{}, false
	}
	return resetTime(h)
}

func resetTime(h http.Header) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// nextLink returns the rel="next" target of the Link headers (RFC 8288), resolved against
// cur, or nil when there is none.
func nextLink(h http.Header, cur *url.URL) (*url.URL, error) {
	for _, v := range h.Values("Link") {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] != '<' {
				return nil, fmt.Errorf("%w: Link header: want <target>", ErrMalformedResponse)
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				return nil, fmt.Errorf("%w: Link header: unterminated <target>", ErrMalformedResponse)
			}
			target := v[1:end]
			var params string
			params, v = splitLinkParams(v[end+1:])
			if !relNext(params) {
				continue
			}
			u, err := cur.Parse(target)
			if err != nil {
				return nil, fmt.Errorf("%w: Link header: next target: %w", ErrMalformedResponse, err)
			}
			return u, nil
		}
	}
	return nil, nil
}

// splitLinkParams splits s at the first comma outside quotes: the link's parameters, and the
// rest of the header.
func splitLinkParams(s string) (params, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			i++
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// relNext reports whether link parameters (`; rel="next"; …`) include the relation next.
func relNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// redact returns u without its query, which may hold a signed URL's credentials, and
// without user information.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// decodeBundle reads a bundle served at a bundle_url: JSON, or JSON compressed with snappy's
// block format (as GitHub stores them), decompressed to at most limit bytes.
func decodeBundle(body []byte, limit int64) (json.RawMessage, error) {
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return json.RawMessage(t), nil
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: neither JSON nor snappy-compressed JSON", ErrMalformedResponse)
	}
	if int64(n) > limit {
		return nil, fmt.Errorf("%w: decompresses to %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	out, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("%w: neither JSON nor snappy-compressed JSON: %w", ErrMalformedResponse, err)
	}
	if t := bytes.TrimSpace(out); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return json.RawMessage(t), nil
	}
	return nil, fmt.Errorf("%w: the decompressed bundle is not a JSON object", ErrMalformedResponse)
}
