package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
)

// RequestIDHeader carries a request's ID: taken from the request when valid, made up
// otherwise, and always echoed in the response.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds a caller's request ID.
const maxRequestIDLen = 64

type requestKey struct{}

// requestInfo is what WithRequestID puts in a request's context.
type requestInfo struct {
	id  string
	log *slog.Logger
}

// validRequestID reports whether id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// WithRequestID gives every request an ID: the caller's X-Request-ID when it is valid (at most
// 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'), a random one otherwise. The ID is echoed
// in the response's X-Request-ID header, and the request's context carries it (RequestID) and
// log with a request_id attribute (Logger), so every line logged about the request has it.
func WithRequestID(log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestKey{}, requestInfo{id: id, log: log.With("request_id", id)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RequestID returns the ID WithRequestID gave the request of ctx; "" outside one.
func RequestID(ctx context.Context) string {
	info, _ := ctx.Value(requestKey{}).(requestInfo)
	return info.id
}

// Logger returns the request's logger, with its request_id, that WithRequestID put in ctx;
// fallback outside one.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if info, ok := ctx.Value(requestKey{}).(requestInfo); ok {
		return info.log
	}
	return fallback
}

// logger is the logger for lines about r.
func (a *API) logger(r *http.Request) *slog.Logger { return Logger(r.Context(), a.Log) }
