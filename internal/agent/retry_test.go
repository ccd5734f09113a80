package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func fastPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 3, AttemptTimeout: 200 * time.Millisecond, BaseDelay: time.Millisecond,
		MaxDelay: 5 * time.Millisecond, ThrottlePause: 50 * time.Millisecond, MaxThrottlePause: 200 * time.Millisecond}
}

func TestFetchRetries(t *testing.T) {
	ok := credsUntil(func() time.Time { return time.Now().Add(time.Hour) })
	tests := []struct {
		name      string
		errs      []error // answers before success; nil: succeed
		wantCalls int
		wantCode  string
	}{
		{"success", nil, 1, ""},
		{"server error then success", []error{&UpstreamError{Status: 500, Code: "InternalServerException"}}, 2, ""},
		{"no answer then success", []error{&UpstreamError{Err: context.DeadlineExceeded}}, 2, ""},
		{"unavailable twice then success", []error{&UpstreamError{Status: 503}, &UpstreamError{Status: 503}}, 3, ""},
		{"attempts spent", []error{&UpstreamError{Status: 500, Code: "A"}, &UpstreamError{Status: 500, Code: "B"}, &UpstreamError{Status: 500, Code: "C"}, nil}, 3, "C"},
		{"invalid token is final", []error{&UpstreamError{Status: 400, Code: "InvalidTokenException"}}, 1, "InvalidTokenException"},
		{"not found is final", []error{&UpstreamError{Status: 404, Code: "ResourceNotFoundException"}}, 1, "ResourceNotFoundException"},
		{"bad request is final", []error{&UpstreamError{Status: 400, Code: "InvalidParameterException"}}, 1, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := testMetrics(t)
			up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
				if n <= len(tt.errs) && tt.errs[n-1] != nil {
					return Credentials{}, tt.errs[n-1]
				}
				return ok(ctx, token, n)
			})
			f := newFetcher(up, fastPolicy(), time.Now, m)
			_, err := f.fetch(context.Background(), "tok")
			if got := up.callsFor("tok"); got != tt.wantCalls {
				t.Errorf("upstream calls = %d, want %d", got, tt.wantCalls)
			}
			var code string
			if ue := asUpstreamError(err); ue != nil {
				code = ue.Code
			}
			if (err == nil) != (tt.wantCode == "") || code != tt.wantCode {
				t.Errorf("fetch error = %v, want code %q", err, tt.wantCode)
			}
		})
	}
}

func TestFetchAttemptTimeout(t *testing.T) {
	m, _ := testMetrics(t)
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		<-ctx.Done()
		return Credentials{}, &UpstreamError{Err: ctx.Err()}
	})
	p := fastPolicy()
	p.AttemptTimeout = 20 * time.Millisecond
	start := time.Now()
	_, err := newFetcher(up, p, time.Now, m).fetch(context.Background(), "tok")
	if !errors.Is(err, context.DeadlineExceeded) || up.callsFor("tok") != 3 {
		t.Errorf("fetch = %v after %d calls, want 3 timed-out attempts", err, up.callsFor("tok"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("three 20ms attempts took %v", d)
	}
}

// Throttling pauses every fetch, not only the one that was throttled: a
// burst of pods with different tokens does not keep hammering.
func TestThrottlingPausesAllFetches(t *testing.T) {
	m, reg := testMetrics(t)
	var (
		mu    sync.Mutex
		times []time.Time
	)
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			return Credentials{}, &UpstreamError{Status: 429, Code: "ThrottlingException"}
		}
		return Credentials{Expiration: time.Now().Add(time.Hour)}, nil
	})
	p := fastPolicy()
	p.ThrottlePause = 100 * time.Millisecond
	f := newFetcher(up, p, time.Now, m)
	if _, err := f.fetch(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	// The retry of "a" waited out the pause (100ms, jittered down to 50ms).
	if gap := times[1].Sub(times[0]); gap < 50*time.Millisecond {
		t.Errorf("retry after throttling came %v later, want at least 50ms", gap)
	}
	// A fresh throttle holds back a different token's first attempt too.
	f.throttled()
	start := time.Now()
	if _, err := f.fetch(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("another token's fetch went ahead %v into a throttling pause", d)
	}
	if n := metricValue(t, reg, "podidentity_agent_upstream_request_duration_seconds", "outcome", "throttled"); n != 1 {
		t.Errorf("throttled attempts recorded = %v, want 1", n)
	}
}

func TestFetchConcurrencyBound(t *testing.T) {
	m, _ := testMetrics(t)
	var (
		mu          sync.Mutex
		now, most   int
		release     = make(chan struct{})
		wg          sync.WaitGroup
		maxInFlight = 4
	)
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		mu.Lock()
		now++
		most = max(most, now)
		mu.Unlock()
		<-release
		mu.Lock()
		now--
		mu.Unlock()
		return Credentials{}, nil
	})
	p := fastPolicy()
	p.MaxConcurrent = maxInFlight
	p.AttemptTimeout = 5 * time.Second
	f := newFetcher(up, p, time.Now, m)
	for i := range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); f.fetch(context.Background(), string(rune('a'+i))) }()
	}
	for deadline := time.Now().Add(5 * time.Second); up.total.Load() < int64(maxInFlight) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // a fifth call, were one let through, would show now
	close(release)
	wg.Wait()
	if most != maxInFlight {
		t.Errorf("at most %d calls were in flight, want %d", most, maxInFlight)
	}
}

func TestFullJitterBounds(t *testing.T) {
	for n := 1; n < 40; n++ {
		for range 50 {
			d := fullJitter(10*time.Millisecond, time.Second, n)
			if d < 0 || d > time.Second || (n == 1 && d > 10*time.Millisecond) {
				t.Fatalf("fullJitter(attempt %d) = %v", n, d)
			}
		}
	}
}
