package agent

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// RetryPolicy says how often and how patiently the agent asks EKS Auth. The
// defaults answer a pod within what its SDK waits (botocore: 2s per try):
// an attempt is cut off after 1s, as the AWS agent does, and a fetch that
// outlives the pod's patience keeps going in the background so that the
// pod's own retry finds the result.
type RetryPolicy struct {
	Attempts       int           // per fetch (default 3)
	AttemptTimeout time.Duration // per attempt (default 1s)
	// BaseDelay is the first backoff; it doubles per attempt up to MaxDelay,
	// with full jitter (defaults 100ms, 1s).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// ThrottlePause is how long every fetch holds back after EKS Auth
	// throttles; it doubles while throttling goes on, up to MaxThrottlePause
	// (defaults 200ms, 5s). One pause for all fetches is what keeps a burst of
	// pods from hammering a throttling service.
	ThrottlePause    time.Duration
	MaxThrottlePause time.Duration
	// MaxConcurrent bounds upstream calls in flight; more wait their turn
	// (default 32).
	MaxConcurrent int
}

func (p *RetryPolicy) applyDefaults() {
	if p.Attempts <= 0 {
		p.Attempts = 3
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = time.Second
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 100 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Second
	}
	if p.ThrottlePause <= 0 {
		p.ThrottlePause = 200 * time.Millisecond
	}
	if p.MaxThrottlePause <= 0 {
		p.MaxThrottlePause = 5 * time.Second
	}
	if p.MaxConcurrent <= 0 {
		p.MaxConcurrent = 32
	}
}

// fetcher calls Upstream with retries, backoff and jitter, a pause shared
// by every fetch while upstream throttles, and a bound on concurrency.
type fetcher struct {
	up      Upstream
	policy  RetryPolicy
	now     func() time.Time
	metrics *metrics
	slots   chan struct{}

	mu            sync.Mutex
	pausedUntil   time.Time
	throttleLevel int
}

func newFetcher(up Upstream, policy RetryPolicy, now func() time.Time, m *metrics) *fetcher {
	policy.applyDefaults()
	return &fetcher{up: up, policy: policy, now: now, metrics: m, slots: make(chan struct{}, policy.MaxConcurrent)}
}

// fetch returns credentials for token or the last error once attempts are
// spent, an error is not worth retrying, or ctx ends.
func (f *fetcher) fetch(ctx context.Context, token string) (Credentials, error) {
	var lastErr error
	for attempt := 1; attempt <= f.policy.Attempts; attempt++ {
		if attempt > 1 {
			if sleep(ctx, fullJitter(f.policy.BaseDelay, f.policy.MaxDelay, attempt-1)) != nil {
				return Credentials{}, lastErr
			}
		}
		if err := f.waitTurn(ctx); err != nil {
			if lastErr == nil {
				lastErr = &UpstreamError{Err: err}
			}
			return Credentials{}, lastErr
		}
		actx, cancel := context.WithTimeout(ctx, f.policy.AttemptTimeout)
		start := time.Now()
		creds, err := f.up.AssumeRoleForPodIdentity(actx, token)
		cancel()
		<-f.slots
		f.metrics.upstream(err, time.Since(start))
		if err == nil {
			f.throttleOver()
			return creds, nil
		}
		lastErr = err
		ue := asUpstreamError(err)
		if ue == nil || !ue.retryable() {
			return Credentials{}, err
		}
		if ue.throttled() {
			f.throttled()
		}
	}
	return Credentials{}, lastErr
}

// waitTurn waits out a throttling pause, then for a free slot.
func (f *fetcher) waitTurn(ctx context.Context) error {
	for {
		f.mu.Lock()
		d := f.pausedUntil.Sub(f.now())
		f.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	select {
	case f.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// throttled starts or lengthens the shared pause: ThrottlePause doubling
// per consecutive throttle, jittered between half and all of it.
func (f *fetcher) throttled() {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.policy.ThrottlePause << min(f.throttleLevel, 16)
	d = min(d, f.policy.MaxThrottlePause)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if until := f.now().Add(d); until.After(f.pausedUntil) {
		f.pausedUntil = until
	}
	f.throttleLevel++
}

func (f *fetcher) throttleOver() {
	f.mu.Lock()
	f.throttleLevel = 0
	f.mu.Unlock()
}

// fullJitter is a random delay in [0, min(max, base·2^(n-1))].
func fullJitter(base, max time.Duration, n int) time.Duration {
	d := base << min(n-1, 16)
	if d > max || d <= 0 {
		d = max
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
