package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiterQueuesInsteadOfRefusing(t *testing.T) {
	clock := newClock()
	l := newLimiter(10, 2, clock.Now) // a turn every 100ms, 2 at once
	want := []struct {
		wait time.Duration
		ok   bool
	}{
		{0, true},                      // burst
		{0, true},                      // burst
		{100 * time.Millisecond, true}, // queued
		{200 * time.Millisecond, true}, // queued behind it
		{0, false},                     // 300ms away: beyond the 250ms bound, refused
	}
	for i, w := range want {
		wait, ok := l.reserve(250 * time.Millisecond)
		if wait != w.wait || ok != w.ok {
			t.Fatalf("reservation %d = (%v, %v), want (%v, %v)", i, wait, ok, w.wait, w.ok)
		}
	}
	// A refusal takes nothing: after 300ms the queue has drained by three.
	clock.Advance(300 * time.Millisecond)
	if wait, ok := l.reserve(0); wait != 0 || !ok {
		t.Errorf("after the queue drained: (%v, %v), want a turn now", wait, ok)
	}
	// Idle time refills up to the burst, no more.
	clock.Advance(time.Hour)
	for i := range 2 {
		if wait, _ := l.reserve(0); wait != 0 {
			t.Errorf("burst turn %d waits %v", i, wait)
		}
	}
	if _, ok := l.reserve(0); ok {
		t.Errorf("a third turn at once exceeds the burst")
	}
}

func TestLimiterWait(t *testing.T) {
	l := newLimiter(1000, 1, time.Now)
	ctx := context.Background()
	if err := l.wait(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.wait(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 500*time.Microsecond {
		t.Errorf("second turn came after %v, want about 1ms", d)
	}
	slow := newLimiter(0.001, 1, time.Now)
	slow.reserve(0)
	if err := slow.wait(ctx, time.Second); !errors.Is(err, errLimited) {
		t.Errorf("wait beyond the bound = %v, want errLimited", err)
	}
	var unlimited *limiter
	if err := unlimited.wait(ctx, 0); err != nil {
		t.Errorf("a nil limiter limits: %v", err)
	}
	if err := newLimiter(-1, 1, time.Now).wait(ctx, 0); err != nil {
		t.Errorf("a negative rate limits: %v", err)
	}
}

// A caller that gives up while queued gives its turn back: the next one
// waits no longer than it would have.
func TestLimiterGivesBackAnAbandonedTurn(t *testing.T) {
	clock := newClock() // frozen: turns are computed as if all came at once
	l := newLimiter(10, 1, clock.Now)
	if err := l.wait(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.wait(ctx, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued wait = %v, want the context's deadline", err)
	}
	if wait, ok := l.reserve(time.Second); !ok || wait != 100*time.Millisecond {
		t.Errorf("after an abandoned turn: (%v, %v), want the next turn in 100ms", wait, ok)
	}
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := l.wait(done, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a context already done = %v, want context.Canceled", err)
	}
	if wait, ok := l.reserve(time.Second); !ok || wait != 200*time.Millisecond {
		t.Errorf("a caller already gone took a turn: next (%v, %v), want 200ms", wait, ok)
	}
}

// Under concurrent callers the limiter admits no more than its bucket and
// rate allow over the time it ran plus the longest wait it grants: refused
// reservations given back must not give back turns others took. (Without
// the lock from reserving to cancelling it admitted several times that.)
func TestLimiterHoldsItsRateUnderConcurrency(t *testing.T) {
	const (
		rps, burst = 200.0, 10
		maxWait    = 100 * time.Millisecond
		callers    = 64
		runFor     = 300 * time.Millisecond
		perCaller  = 20000 // bounds each loop by count as well as by time
	)
	l := newLimiter(rps, burst, time.Now)
	start := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := 0; i < perCaller && time.Since(start) < runFor; i++ {
				if _, ok := l.reserve(maxWait); ok {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	limit := burst + int64(rps*(elapsed+maxWait).Seconds()) + 1
	if got := admitted.Load(); got > limit {
		t.Errorf("admitted %d turns in %v, at most %d are possible at %v/s with a burst of %d and waits up to %v",
			got, elapsed, limit, rps, burst, maxWait)
	}
}
