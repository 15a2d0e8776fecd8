// Package notifytest runs local HTTP servers that answer as Jira Cloud's REST API v2 and
// GitHub's REST API do for the calls the notifier makes — status codes, error bodies,
// pagination and rate-limit headers as their documentation describes — with fault injection
// and a log of the requests they served, for tests. Jira and GitHub cannot run here.
package notifytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Request is one request a fake served.
type Request struct {
	Method string
	// Path is the URL path; Query the raw query.
	Path, Query string
	// Status is the status answered.
	Status int
	// Body is the request body.
	Body string
}

// Fault is an injected failure.
type Fault struct {
	// Status is answered instead of serving the request (unless LoseAnswer).
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Body is the answer's body; a fake chooses its API's error body when empty.
	Body string
	// Header is added to the answer.
	Header http.Header
	// LoseAnswer serves the request (it takes effect) but answers 504 Gateway Timeout, as a
	// proxy does when the answer is lost on the way back.
	LoseAnswer bool
	// Match, when set, limits the fault to requests it returns true for.
	Match func(*http.Request) bool
}

// faults is the request log and the queue of injected faults a fake shares.
type faults struct {
	mu       sync.Mutex
	queue    []Fault
	requests []Request
}

// FailNext makes the next n matching requests fail with f.
func (f *faults) FailNext(n int, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, fault)
	}
}

// Requests returns the requests served so far, in order.
func (f *faults) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// takeFault removes and returns the first queued fault matching r.
func (f *faults) takeFault(r *http.Request) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.queue {
		if q.Match == nil || q.Match(r) {
			f.queue = append(f.queue[:i], f.queue[i+1:]...)
			return q, true
		}
	}
	return Fault{}, false
}

func (f *faults) record(r *http.Request, body []byte, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status, Body: string(body)})
}

// serve runs h for r unless a fault applies, records the exchange, and copies the answer.
func (f *faults) serve(w http.ResponseWriter, r *http.Request, body []byte, errBody func(status int) string, h http.HandlerFunc) {
	rec := httptest.NewRecorder()
	fault, faulty := f.takeFault(r)
	switch {
	case faulty && !fault.LoseAnswer:
		for k, v := range fault.Header {
			rec.Header()[k] = v
		}
		if fault.RetryAfter != "" {
			rec.Header().Set("Retry-After", fault.RetryAfter)
		}
		b := fault.Body
		if b == "" {
			b = errBody(fault.Status)
		}
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(fault.Status)
		rec.Body.WriteString(b)
	default:
		h(rec, r)
		if faulty {
			rec = httptest.NewRecorder()
			rec.WriteHeader(http.StatusGatewayTimeout)
			rec.Body.WriteString("<html><body>504 Gateway Time-out</body></html>")
		}
	}
	f.record(r, body, rec.Code)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
