package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds every response body the notifier reads.
const maxResponseBytes = 1 << 20

// ErrRemote is wrapped by every error a remote end (webhook receiver, Jira, GitHub) answered.
var ErrRemote = errors.New("remote error")

// RemoteError is an error answer from a sink's server.
type RemoteError struct {
	Method, URL string
	Status      int
	// Message is what the body said, as far as it could be read.
	Message string
	// RetryAfter is how long the server asked to wait (Retry-After, or a rate-limit reset); 0
	// when it did not say.
	RetryAfter time.Duration
}

func (e *RemoteError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrRemote) hold.
func (e *RemoteError) Unwrap() error { return ErrRemote }

// retryAfter returns the wait a failure asks for: the longest RemoteError.RetryAfter in err.
func retryAfter(err error) time.Duration {
	var d time.Duration
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var re *RemoteError
		if errors.As(err, &re) {
			d = max(d, re.RetryAfter)
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return d
}

// client sends JSON requests and reads bounded answers.
type client struct {
	http *http.Client
	now  func() time.Time
	// header adds authentication and API headers to each request.
	header func(http.Header)
	// message extracts a readable error from an error body.
	message func(body []byte) string
}

// do sends method url with in encoded as JSON (when it is not nil) and decodes a 2xx answer
// into out (when out is not nil). It returns the answer's headers. A non-2xx answer is a
// *RemoteError.
func (c *client) do(ctx context.Context, method, url string, in, out any) (http.Header, error) {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		body = b
	}
	return c.send(ctx, method, url, body, nil, out)
}

// send is do with the body's bytes given and extra headers.
func (c *client) send(ctx context.Context, method, url string, body []byte, extra http.Header, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.header != nil {
		c.header(req.Header)
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading answer: %w", method, url, err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("%s %s: answer exceeds %d bytes", method, url, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := ""
		if c.message != nil {
			msg = c.message(data)
		}
		if msg == "" {
			msg = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return resp.Header, &RemoteError{Method: method, URL: url, Status: resp.StatusCode, Message: msg,
			RetryAfter: waitFor(resp, c.now())}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decoding answer: %w", method, url, err)
		}
	}
	return resp.Header, nil
}

// waitFor reads how long a refusing server asks to wait: Retry-After (seconds or an HTTP
// date), or, when the rate limit is spent, until x-ratelimit-reset (Unix seconds).
func waitFor(resp *http.Response, now time.Time) time.Duration {
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(s); err == nil {
			return max(0, t.Sub(now))
		}
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(0, time.Unix(n, 0).Sub(now))
		}
	}
	return 0
}
