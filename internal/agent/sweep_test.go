package agent

import (
	"context"
	"testing"
	"time"
)

// A sweep that waits its turn for entry B must not refresh B if, meanwhile,
// B was refreshed by a pod's own request or stopped being wanted: each
// would be one EKS Auth call for nothing.
func TestSweepRechecksAfterWaitingItsTurn(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile runs while the sweep waits for B's turn.
		meanwhile func(t *testing.T, e *cacheEnv, b string)
	}{
		{"refreshed by a pod meanwhile", func(t *testing.T, e *cacheEnv, b string) {
			e.c.mu.Lock()
			f := e.c.flightLocked(mustToken(t, b, e.clock.Now()), false)
			e.c.mu.Unlock()
			<-f.done
		}},
		{"credentials served lapsed meanwhile", func(t *testing.T, e *cacheEnv, b string) {
			e.clock.Advance(20 * time.Minute) // t0+61m: past what b was served (t0+1h), not a (t0+70m)
		}},
		{"token expired meanwhile", func(t *testing.T, e *cacheEnv, b string) {
			e.clock.Advance(5 * time.Minute) // b's token expires at t0+45m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, nil)
			a := podJWT(t, "a", t0.Add(24*time.Hour))
			b := podJWT(t, "b", t0.Add(45*time.Minute))
			e.mustGet(t, b) // credentials until t0+1h, refresh due at t0+27-30m
			clock.Advance(10 * time.Minute)
			e.mustGet(t, a)                 // credentials until t0+70m, refresh due at t0+37-40m
			clock.Advance(31 * time.Minute) // t0+41m: both due; a, used last, is swept first
			turns := 0
			e.c.turn = func(context.Context) error {
				if turns++; turns == 2 {
					tt.meanwhile(t, e, b)
				}
				return nil
			}
			before := e.up.callsFor(b)
			e.sweep(t)
			if got := e.up.callsFor(b) - before; got > boolInt(tt.name == "refreshed by a pod meanwhile") {
				t.Errorf("EKS Auth calls for b during the sweep = %d; the sweep refreshed an entry that was no longer due or wanted", got)
			}
			if e.up.callsFor(a) != 2 {
				t.Errorf("calls for a = %d, want 2: the sweep should still refresh the entry that stayed due", e.up.callsFor(a))
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
