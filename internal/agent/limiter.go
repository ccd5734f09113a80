package agent

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errLimited is a request that could not get a turn within its wait.
var errLimited = errors.New("rate limit: no turn within the allowed wait")

// limiter is a token bucket whose callers queue for a turn, up to a bound,
// instead of failing the moment the bucket is empty: a burst of pods is
// smoothed, not refused. A rate of zero or less never limits.
type limiter struct {
	rate  float64 // turns per second
	burst float64
	now   func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: now}
}

// reserve takes a turn now or at a later time and says how long to wait
// for it; ok is false, and nothing is taken, when that is beyond maxWait.
func (l *limiter) reserve(maxWait time.Duration) (wait time.Duration, ok bool) {
	if l == nil || l.rate <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return 0, true
	}
	wait = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	if wait > maxWait {
		return 0, false
	}
	l.tokens--
	return wait, true
}

// unreserve gives back a turn its caller did not use.
func (l *limiter) unreserve() {
	if l == nil || l.rate <= 0 {
		return
	}
	l.mu.Lock()
	l.tokens = min(l.burst, l.tokens+1)
	l.mu.Unlock()
}

// wait blocks until the caller's turn, or fails at once with errLimited
// when that is more than maxWait away, or with ctx's error.
func (l *limiter) wait(ctx context.Context, maxWait time.Duration) error {
	d, ok := l.reserve(maxWait)
	if !ok {
		return errLimited
	}
	if err := sleep(ctx, d); err != nil {
		l.unreserve()
		return err
	}
	return nil
}
