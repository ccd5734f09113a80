package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podidentity/podidentity/internal/testenv"
)

type cacheEnv struct {
	c     *cache
	clock *testenv.Clock
	up    *fakeUpstream
	reg   *prometheus.Registry
}

func newCacheEnv(t *testing.T, up *fakeUpstream, clock *testenv.Clock, tweak func(*cacheConfig)) *cacheEnv {
	t.Helper()
	m, reg := testMetrics(t)
	cfg := cacheConfig{now: clock.Now, sweepEvery: time.Hour, refreshQPS: 1000}
	if tweak != nil {
		tweak(&cfg)
	}
	c := newCache(cfg, newFetcher(up, fastPolicy(), clock.Now, m).fetch, m, discardLog())
	t.Cleanup(c.close)
	return &cacheEnv{c: c, clock: clock, up: up, reg: reg}
}

// ttlUpstream answers credentials valid for ttl from the clock's now.
func ttlUpstream(clock *testenv.Clock, ttl time.Duration) *fakeUpstream {
	return newUpstream(credsUntil(func() time.Time { return clock.Now().Add(ttl) }))
}

func (e *cacheEnv) get(t *testing.T, raw string) (Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.c.get(ctx, mustToken(t, raw, e.clock.Now()))
}

func (e *cacheEnv) mustGet(t *testing.T, raw string) Credentials {
	t.Helper()
	creds, err := e.get(t, raw)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return creds
}

// sweep runs one refresh sweep and waits for the fetches it started.
func (e *cacheEnv) sweep(t *testing.T) {
	t.Helper()
	e.c.sweep(context.Background())
	e.settle(t)
}

// settle waits until no fetch or pod check is in flight.
func (e *cacheEnv) settle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		e.c.mu.Lock()
		n := len(e.c.flights)
		for _, en := range e.c.lru.Keys() {
			n += boolInt(en.checking)
		}
		e.c.mu.Unlock()
		if n == 0 {
			return
		}
	}
	t.Fatal("fetches or pod checks still in flight after 5s")
}

func (e *cacheEnv) state(t *testing.T, s string) float64 {
	return metricValue(t, e.reg, "pod_identity_cache_state", "state", s)
}

func TestCacheHitAfterMiss(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, 6*time.Hour), clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	first := e.mustGet(t, tok)
	clock.Advance(time.Hour)
	second := e.mustGet(t, tok)
	if first != second || e.up.callsFor(tok) != 1 {
		t.Errorf("second get = %v after %d upstream calls, want the cached %v after 1", second, e.up.callsFor(tok), first)
	}
	if e.state(t, stateHit) != 1 || e.state(t, stateMiss) != 1 {
		t.Errorf("hits, misses = %v, %v; want 1, 1", e.state(t, stateHit), e.state(t, stateMiss))
	}
}

// A burst of pods with one token costs one upstream call.
func TestCacheSingleFlight(t *testing.T) {
	clock := newClock()
	release := make(chan struct{})
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		<-release
		return credsUntil(func() time.Time { return clock.Now().Add(time.Hour) })(ctx, token, n)
	})
	e := newCacheEnv(t, up, clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	const n = 200
	var wg sync.WaitGroup
	results := make(chan Credentials, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			creds, err := e.get(t, tok)
			if err != nil {
				t.Error(err)
			}
			results <- creds
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); up.callsFor(tok) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the burst pile up behind the one call
	close(release)
	wg.Wait()
	close(results)
	for creds := range results {
		if creds.AccessKeyID != "ASIA0000000000000001" {
			t.Fatalf("a request got %q, want the one fetch's credentials", creds.AccessKeyID)
		}
	}
	if calls := up.callsFor(tok); calls != 1 {
		t.Errorf("upstream calls for %d concurrent requests = %d, want 1", n, calls)
	}
}

// A pod that gives up does not cancel the fetch: its retry finds the result.
func TestCacheFetchOutlivesRequest(t *testing.T) {
	clock := newClock()
	release := make(chan struct{})
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return Credentials{}, &UpstreamError{Err: ctx.Err()}
		}
		return credsUntil(func() time.Time { return clock.Now().Add(time.Hour) })(ctx, token, n)
	})
	e := newCacheEnv(t, up, clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := e.c.get(ctx, mustToken(t, tok, clock.Now())); err == nil {
		t.Fatal("get returned before the fetch finished")
	}
	close(release)
	e.settle(t)
	if _, err := e.get(t, tok); err != nil || up.callsFor(tok) != 1 {
		t.Errorf("retry: %v after %d upstream calls, want the cached result of 1", err, up.callsFor(tok))
	}
}

func TestCacheServesStaleWhileUpstreamDown(t *testing.T) {
	clock := newClock()
	var down sync.Map
	fresh := credsUntil(func() time.Time { return clock.Now().Add(time.Hour) })
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		if _, ok := down.Load("down"); ok {
			return Credentials{}, &UpstreamError{Status: 503, Code: "ServiceUnavailableException"}
		}
		return fresh(ctx, token, n)
	})
	e := newCacheEnv(t, up, clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	cached := e.mustGet(t, tok)
	down.Store("down", true)

	// Far from expiry: served from the cache without asking.
	clock.Advance(30 * time.Minute)
	if got := e.mustGet(t, tok); got != cached || up.callsFor(tok) != 1 {
		t.Fatalf("got %v after %d calls, want the cached credentials without a call", got, up.callsFor(tok))
	}
	// Near expiry: a refresh is tried, fails, and the cached ones are served.
	clock.Advance(20 * time.Minute)
	if got := e.mustGet(t, tok); got != cached {
		t.Fatalf("near expiry with upstream down: got %v, want the cached credentials", got)
	}
	calls := up.callsFor(tok)
	if calls != 1+fastPolicy().Attempts || e.state(t, stateStale) != 1 {
		t.Errorf("calls = %d, stale = %v; want %d, 1", calls, e.state(t, stateStale), 1+fastPolicy().Attempts)
	}
	// Right after a failure the next requests do not hammer upstream.
	for range 10 {
		e.mustGet(t, tok)
	}
	if up.callsFor(tok) != calls {
		t.Errorf("requests right after a failed refresh called upstream %d more times", up.callsFor(tok)-calls)
	}
	// Once the credentials are within 15s of expiry they are not served.
	clock.Advance(10*time.Minute - 15*time.Second)
	if _, err := e.get(t, tok); err == nil {
		t.Errorf("credentials with 15s left were served")
	}
	// Upstream back: fresh credentials.
	down.Delete("down")
	if got := e.mustGet(t, tok); got == cached {
		t.Errorf("got the expired credentials again")
	}
}

func TestCacheDropsOnIrrecoverableErrors(t *testing.T) {
	for _, code := range []string{"AccessDeniedException", "ResourceNotFoundException", "ExpiredTokenException", "InvalidTokenException"} {
		t.Run(code, func(t *testing.T) {
			clock := newClock()
			var gone sync.Map
			fresh := credsUntil(func() time.Time { return clock.Now().Add(6 * time.Hour) })
			up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
				if _, ok := gone.Load(token); ok {
					return Credentials{}, &UpstreamError{Status: 400, Code: code}
				}
				return fresh(ctx, token, n)
			})
			e := newCacheEnv(t, up, clock, nil)
			tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
			e.mustGet(t, tok)
			gone.Store(tok, true)
			clock.Advance(3 * time.Hour)
			e.sweep(t)
			if e.c.len() != 0 {
				t.Fatalf("the entry survived %s", code)
			}
			if _, err := e.get(t, tok); err == nil {
				t.Errorf("credentials served after %s", code)
			}
			if n := metricValue(t, e.reg, "pod_identity_cache_errors", "type", "NonRecoverable", "code", code); n != 1 {
				t.Errorf("NonRecoverable refresh errors = %v, want 1", n)
			}
		})
	}
}

func TestCacheRefreshesInBackground(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, 6*time.Hour), clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	first := e.mustGet(t, tok)
	clock.Advance(2*time.Hour + 30*time.Minute) // before the refresh (at 2h42m-3h)
	e.sweep(t)
	if e.up.callsFor(tok) != 1 {
		t.Fatalf("refreshed before it was due")
	}
	clock.Advance(31 * time.Minute)
	e.sweep(t)
	got := e.mustGet(t, tok)
	if got == first || e.up.callsFor(tok) != 2 || e.state(t, stateRefreshed) != 1 {
		t.Errorf("after the refresh: %v after %d calls, want new credentials after 2", got, e.up.callsFor(tok))
	}
	if !got.Expiration.Equal(clock.Now().Add(6 * time.Hour)) {
		t.Errorf("refreshed credentials expire at %v", got.Expiration)
	}
}

// The AWS agent refreshes a dead pod's credentials for as long as its token
// lives (24h). Here refreshing stops once nobody holds unexpired
// credentials for the token.
func TestCacheStopsRefreshingTokensNobodyUses(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	e.mustGet(t, tok) // served credentials expire at t0+1h
	clock.Advance(31 * time.Minute)
	e.sweep(t) // refresh: the pod may be back before t0+1h
	if e.up.callsFor(tok) != 2 {
		t.Fatalf("calls = %d, want a refresh", e.up.callsFor(tok))
	}
	clock.Advance(31 * time.Minute) // t0+62m: due again, but what we served has expired
	e.sweep(t)
	if e.up.callsFor(tok) != 2 || e.state(t, stateIdle) != 1 {
		t.Fatalf("calls = %d, idle = %v; want no refresh for a token nobody asked for", e.up.callsFor(tok), e.state(t, stateIdle))
	}
	for range 100 { // many sweeps, still nothing
		clock.Advance(10 * time.Second)
		e.sweep(t)
	}
	if e.up.callsFor(tok) != 2 {
		t.Fatalf("an idle token was refreshed")
	}
	clock.Advance(30 * time.Minute) // past the cached credentials' expiry
	e.sweep(t)
	if e.c.len() != 0 {
		t.Errorf("an idle entry outlived its credentials")
	}
}

func TestCacheResumesRefreshingWhenAskedAgain(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, nil)
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	e.mustGet(t, tok)
	clock.Advance(31 * time.Minute)
	e.sweep(t)
	clock.Advance(31 * time.Minute)
	e.sweep(t) // idle now
	e.mustGet(t, tok)
	if e.up.callsFor(tok) != 2 {
		t.Fatalf("a hit on cached credentials called upstream")
	}
	e.sweep(t)
	if e.up.callsFor(tok) != 3 {
		t.Errorf("calls = %d: refreshing did not resume after the token was asked for again", e.up.callsFor(tok))
	}
}

func TestCacheNoRefreshPastTokenExpiry(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, nil)
	tok := podJWT(t, "web-0", t0.Add(20*time.Minute))
	e.mustGet(t, tok)
	clock.Advance(31 * time.Minute)
	e.sweep(t)
	if e.up.callsFor(tok) != 1 {
		t.Errorf("a refresh was tried with an expired token")
	}
}

func TestCacheLRUBound(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, func(c *cacheConfig) { c.maxEntries = 2 })
	exp := t0.Add(24 * time.Hour)
	a, b, c := podJWT(t, "a", exp), podJWT(t, "b", exp), podJWT(t, "c", exp)
	e.mustGet(t, a)
	e.mustGet(t, b)
	e.mustGet(t, a) // b is now the least recently used
	e.mustGet(t, c)
	if e.c.len() != 2 {
		t.Fatalf("%d entries, want 2", e.c.len())
	}
	e.mustGet(t, a)
	e.mustGet(t, b)
	if e.up.callsFor(a) != 1 || e.up.callsFor(b) != 2 {
		t.Errorf("calls a=%d b=%d; want b, the least recently used, evicted", e.up.callsFor(a), e.up.callsFor(b))
	}
}

func TestCacheRefusesCredentialsAboutToExpire(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, 10*time.Second), clock, nil)
	if _, err := e.get(t, podJWT(t, "web-0", t0.Add(time.Hour))); err == nil {
		t.Errorf("credentials with 10s left were served")
	}
	if e.c.len() != 0 {
		t.Errorf("they were cached")
	}
}

func TestCacheDisabled(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, func(c *cacheConfig) { c.maxEntries = -1 })
	tok := podJWT(t, "web-0", t0.Add(time.Hour))
	e.mustGet(t, tok)
	e.mustGet(t, tok)
	if e.up.callsFor(tok) != 2 || e.c.len() != 0 {
		t.Errorf("with caching disabled: %d calls, %d entries; want 2, 0", e.up.callsFor(tok), e.c.len())
	}
}

// lookup, the handler's fast path, serves only what get would serve as is.
func TestCacheLookup(t *testing.T) {
	clock := newClock()
	e := newCacheEnv(t, ttlUpstream(clock, 2*time.Hour), clock, nil)
	raw := podJWT(t, "web-0", t0.Add(90*time.Minute))
	key := mustToken(t, raw, t0).key
	if _, ok := e.c.lookup(key, clock.Now()); ok {
		t.Fatal("lookup found a token never fetched")
	}
	want := e.mustGet(t, raw)
	if got, ok := e.c.lookup(key, clock.Now()); !ok || got != want {
		t.Errorf("lookup = %v, %v; want the cached credentials", got, ok)
	}
	if _, ok := e.c.lookup(key, t0.Add(90*time.Minute)); ok {
		t.Errorf("lookup served credentials for an expired token")
	}
	if _, ok := e.c.lookup(key, t0.Add(2*time.Hour-10*time.Minute)); ok {
		t.Errorf("lookup served credentials near expiry without trying to refresh them")
	}
	if e.up.callsFor(raw) != 1 {
		t.Errorf("lookup called upstream")
	}
}
