package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// errLimited is a request that could not get a turn within its wait.
var errLimited = errors.New("rate limit: no turn within the allowed wait")

// limiter is a token bucket whose callers queue for a turn, up to a bound,
// instead of failing the moment the bucket is empty: a burst of pods is
// smoothed, not refused. A rate of zero or less never limits.
//
// It is rate.Limiter used as its Wait with a deadline uses it (reserve,
// refuse at once what lies beyond the deadline, cancel a turn not taken),
// but on the agent's clock rather than the wall clock, so that tests can
// freeze time. Wait refuses inside rate.Limiter's lock; from outside, a
// refusal is a reservation cancelled again, and a cancellation is exact
// only if no other reservation came in between. mu makes that so: without
// it, concurrent refusals give back more than they took, and the limiter
// admits several times its rate under exactly the load it is for.
type limiter struct {
	lim *rate.Limiter // nil: unlimited
	now func() time.Time
	mu  sync.Mutex // held from reserving to cancelling
}

func newLimiter(r float64, burst int, now func() time.Time) *limiter {
	l := &limiter{now: now}
	if r > 0 {
		l.lim = rate.NewLimiter(rate.Limit(r), max(1, burst))
	}
	return l
}

// take reserves a turn now or at a later time and says how long to wait
// for it; ok is false, and nothing is taken, when that is beyond maxWait.
func (l *limiter) take(maxWait time.Duration) (res *rate.Reservation, wait time.Duration, ok bool) {
	if l == nil || l.lim == nil {
		return nil, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.lim.AllowN(now, 1) {
		// A turn now: the common case, and without the allocation of a
		// Reservation, which only a caller that may have to give its turn
		// back needs.
		return nil, 0, true
	}
	res = l.lim.ReserveN(now, 1)
	wait = res.DelayFrom(now)
	if !res.OK() || wait > maxWait {
		res.CancelAt(now)
		return nil, 0, false
	}
	return res, wait, true
}

// reserve is take for callers that will use their turn whatever happens.
func (l *limiter) reserve(maxWait time.Duration) (wait time.Duration, ok bool) {
	_, wait, ok = l.take(maxWait)
	return wait, ok
}

// wait blocks until the caller's turn, or fails at once with errLimited
// when that is more than maxWait away, or with ctx's error, giving back
// the turn it did not use.
func (l *limiter) wait(ctx context.Context, maxWait time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err // a caller already gone takes no turn
	}
	res, d, ok := l.take(maxWait)
	if !ok {
		return errLimited
	}
	if res == nil {
		return nil
	}
	if err := sleep(ctx, d); err != nil {
		l.mu.Lock()
		res.CancelAt(l.now())
		l.mu.Unlock()
		return err
	}
	return nil
}
