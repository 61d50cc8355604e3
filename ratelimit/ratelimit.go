// Package ratelimit keeps token buckets in memory, one per key (an API key,
// a tenant), evicting those that are full again so that memory holds only
// the keys active lately. The buckets live in one process: N processes
// allow N times the rate.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate tokens a second refill it up to Burst, and
// each event takes one. A Limit whose Rate or Burst is not positive is off.
type Limit struct {
	Rate  float64
	Burst int
}

// Off says whether the limit lets everything through.
func (l Limit) Off() bool {
	return l.Rate <= 0 || l.Burst <= 0
}

// sweepEvery is how often Allow looks for buckets to evict.
const sweepEvery = time.Minute

// Limiter is a token bucket per key, all with the same Limit. It is safe
// for concurrent use.
type Limiter struct {
	limit Limit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// New returns a Limiter of limit (which must not be Off) reading the time
// from now (time.Now when nil).
func New(limit Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, now: now, buckets: map[string]*rate.Limiter{}, swept: now()}
}

// Decision is Allow's answer.
type Decision struct {
	Allowed bool
	// Limit is the bucket's size (the burst), Remaining the whole tokens
	// left in it.
	Limit, Remaining int
	// RetryAfter is how long until one token is back (0 when Allowed),
	// Reset how long until the bucket is full again.
	RetryAfter, Reset time.Duration
}

// Allow takes a token from key's bucket if it has one.
func (l *Limiter) Allow(key string) Decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.limit.Rate), l.limit.Burst)
		l.buckets[key] = b
	}
	d := Decision{Allowed: b.AllowN(now, 1), Limit: l.limit.Burst}
	tokens := b.TokensAt(now)
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = l.refill(float64(l.limit.Burst) - tokens)
	if !d.Allowed {
		d.RetryAfter = l.refill(1 - tokens)
	}
	return d
}

// refill is how long the bucket takes to gain tokens.
func (l *Limiter) refill(tokens float64) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(tokens / l.limit.Rate * float64(time.Second)))
}

// sweep evicts, at most once every sweepEvery, the buckets that are full
// again: a full bucket is the same as none, so nothing is forgotten.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < sweepEvery {
		return
	}
	l.swept = now
	for key, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.limit.Burst) {
			delete(l.buckets, key)
		}
	}
}
