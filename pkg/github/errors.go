package github

import (
	"errors"
	"fmt"
	"time"
)

// Error classes; check with errors.Is.
var (
	// ErrRateLimited says GitHub rate-limited the client for longer than Config.MaxWait (or
	// more times in a row than the client waits); the error is a *RateLimitError.
	ErrRateLimited = errors.New("rate limited by GitHub")
	// ErrTooLarge says a response or decompressed bundle exceeded Config.MaxResponseBytes.
	ErrTooLarge = errors.New("response exceeds the size limit")
	// ErrMalformedResponse says a response is not what GitHub documents: not JSON, no
	// attestations array, a bad Link header, a bundle that is neither JSON nor
	// snappy-compressed JSON.
	ErrMalformedResponse = errors.New("malformed GitHub response")
	// ErrTooManyPages says there were more pages than Config.MaxPages.
	ErrTooManyPages = errors.New("too many pages")
	// ErrInvalidArgument says an owner, organisation or repository name cannot be a path
	// segment.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAPI is the class of every *APIError.
	ErrAPI = errors.New("GitHub API error")
)

// APIError is a response GitHub refused a request with, read from its documented error body
// {"message": …, "documentation_url": …}. Message is the status text when the body has none.
type APIError struct {
	Status           int
	Message          string
	DocumentationURL string
}

// Error returns the status and GitHub's message.
func (e *APIError) Error() string {
	s := fmt.Sprintf("GitHub API: %d %s", e.Status, e.Message)
	if e.DocumentationURL != "" {
		s += " (see " + e.DocumentationURL + ")"
	}
	return s
}

// Unwrap returns ErrAPI.
func (e *APIError) Unwrap() error { return ErrAPI }

// RateLimitError says GitHub rate-limited the client until Until (a primary limit's
// X-RateLimit-Reset, or now plus a secondary limit's Retry-After) and the client would not
// wait that long. It matches ErrRateLimited, and the *APIError GitHub answered with when
// there is one.
type RateLimitError struct {
	Until time.Time
	// Wait is how long the client would have had to wait, counted from when it was limited.
	Wait time.Duration
	// API is GitHub's refusal; nil when the client stopped before asking, having read in an
	// earlier response that no requests remain.
	API *APIError
}

// Error says when the limit resets.
func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("%s until %s (a wait of %s)", ErrRateLimited, e.Until.UTC().Format(time.RFC3339), e.Wait.Round(time.Second))
	if e.API != nil {
		s += ": " + e.API.Error()
	}
	return s
}

// Unwrap returns ErrRateLimited and API.
func (e *RateLimitError) Unwrap() []error {
	if e.API == nil {
		return []error{ErrRateLimited}
	}
	return []error{ErrRateLimited, e.API}
}
