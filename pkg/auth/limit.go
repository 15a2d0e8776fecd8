package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per token ID, so one busy client cannot starve the others.
type Limiter struct {
	rps   rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// NewLimiter allows each token rps requests per second with bursts of burst.
func NewLimiter(rps float64, burst int) *Limiter {
	return &Limiter{rps: rate.Limit(rps), burst: burst, buckets: map[string]*bucket{}}
}

// Allow reports whether token id may make a request now, and if not, how long to wait.
func (l *Limiter) Allow(id string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{l: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[id] = b
		if len(l.buckets) > 10000 {
			l.gc(now)
		}
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// gc forgets buckets idle for ten minutes (they would be full again anyway).
func (l *Limiter) gc(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.seen) > 10*time.Minute {
			delete(l.buckets, id)
		}
	}
}
