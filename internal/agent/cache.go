package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheConfig tunes the credential cache. Zero values take the defaults.
type cacheConfig struct {
	// maxEntries bounds the tokens cached (least recently used go first);
	// negative disables caching (fetches are still shared).
	maxEntries int
	// maxRefresh is the longest credentials are kept before a background
	// refresh (the AWS agent's --max-credential-retention-before-renewal,
	// 3h); they are refreshed at half their lifetime when that is sooner.
	// Negative disables caching.
	maxRefresh time.Duration
	// minServe: credentials with this little left are never served (15s).
	minServe time.Duration
	// fetchTimeout bounds one fetch, all its attempts included (5s). A fetch
	// is shared by every request for its token and outlives the requests
	// that started it.
	fetchTimeout time.Duration
	// staleWait is how long a request whose cached credentials are near
	// expiry waits for fresh ones before it is served the cached ones (1s).
	staleWait time.Duration
	// refreshQPS bounds background refreshes (the AWS agent's
	// --max-service-qps, 3).
	refreshQPS float64
	// sweepEvery is how often due refreshes and expired entries are looked
	// for (1s).
	sweepEvery time.Duration
	now        func() time.Time
	// verifier, when set, checks a pod's rotated token so that the pod's
	// cached credentials can be reused for it (see reuse.go).
	verifier TokenVerifier
	// pods, when set, is asked before a background renewal whether the
	// entry's pod still exists (see podcheck.go).
	pods PodChecker
}

func (c *cacheConfig) applyDefaults() {
	if c.maxEntries == 0 {
		c.maxEntries = 2000
	}
	if c.maxRefresh == 0 {
		c.maxRefresh = 3 * time.Hour
	}
	if c.minServe <= 0 {
		c.minServe = 15 * time.Second
	}
	if c.fetchTimeout <= 0 {
		c.fetchTimeout = 5 * time.Second
	}
	if c.staleWait <= 0 {
		c.staleWait = time.Second
	}
	if c.refreshQPS <= 0 {
		c.refreshQPS = 3
	}
	if c.sweepEvery <= 0 {
		c.sweepEvery = time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// nearExpiryWindow: a pod served credentials with less than this left
// would be back at once (botocore refreshes 15 minutes ahead), so such
// credentials are refreshed in the foreground first.
const nearExpiryWindow = 15 * time.Minute

// cache holds pods' credentials by token hash. See the package comment.
type cache struct {
	cfg     cacheConfig
	fetch   func(ctx context.Context, token string) (Credentials, error)
	refresh *limiter
	// turn waits for the refresh limiter; tests replace it to act while a
	// sweep waits.
	turn    func(context.Context) error
	metrics *metrics
	log     *slog.Logger

	life context.Context // fetches run under it, not under a request
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	entries map[tokenKey]*entry // by each of its tokens
	pods    map[podKey]*entry   // the entry EKS Auth last filled for a pod
	// lru orders the entries by use and bounds them. It is golang-lru's
	// plain LRU, not its expirable variant: entries expire with their own
	// credentials, on the agent's clock, and are refreshed meanwhile. Its
	// eviction callback unindexes an entry however it goes.
	lru     *simplelru.LRU[*entry, struct{}]
	flights map[tokenKey]*flight
	// podWarnedAt is when a failed pod check was last logged.
	podWarnedAt time.Time
}

type entry struct {
	tok       podToken // holds the raw token for refreshes: memory only, never logged
	creds     Credentials
	fetched   time.Time
	refreshAt time.Time // background refresh due
	retryAt   time.Time // after a failed refresh, no attempt before this
	failures  int
	// servedUntil is the latest expiry of credentials handed to a pod for
	// this token: until then someone may come back for more, after it
	// nobody can still be using us, so refreshing stops.
	servedUntil time.Time
	idle        bool
	// pod is the pod EKS Auth accepted tok for; aliases are the pod's
	// other tokens, with their expiry: ones whose signatures were verified
	// and reused, and ones EKS Auth accepted that expire before tok. tok,
	// the one refreshes use, is always one EKS Auth accepted: a reused
	// token was never put to the server's own checks (its token lifetime
	// bound, its TokenReview), and were it refused at refresh the whole
	// entry would go.
	pod     podKey
	aliases map[tokenKey]time.Time
	// refused are tokens naming the pod that EKS Auth refused for good,
	// with their expiry: reuse declines them, or a pod retrying a token
	// EKS Auth has just refused (say, after its association was deleted)
	// would be served the credentials issued before.
	refused map[tokenKey]time.Time
	// checking: a renewal waits for the API server to say whether the pod
	// still exists.
	checking bool
}

// maxAliases bounds the tokens remembered per pod. The kubelet rotates a
// pod's token at 80% of its life (about 19 hours for EKS's 24), so a pod
// rarely has more than two live ones.
const maxAliases = 4

// maxRefused bounds the refused tokens remembered per pod. Only tokens
// that verify as the pod's, or that could not be verified at all, are
// remembered (see refuseRotated), so a neighbour's made-up tokens cannot
// push a real one out.
const maxRefused = 4

// expiryOf is when the token with key k, one of e's, expires.
func (e *entry) expiryOf(k tokenKey) time.Time {
	if k == e.tok.key {
		return e.tok.expires
	}
	return e.aliases[k]
}

// flight is one fetch that every request for its token shares.
type flight struct {
	done  chan struct{}
	creds Credentials
	err   error
}

func newCache(cfg cacheConfig, fetch func(context.Context, string) (Credentials, error), m *metrics, log *slog.Logger) *cache {
	cfg.applyDefaults()
	life, stop := context.WithCancel(context.Background())
	c := &cache{
		cfg:     cfg,
		fetch:   fetch,
		refresh: newLimiter(cfg.refreshQPS, max(1, int(cfg.refreshQPS)), cfg.now),
		metrics: m,
		log:     log,
		life:    life,
		stop:    stop,
		entries: map[tokenKey]*entry{},
		pods:    map[podKey]*entry{},
		flights: map[tokenKey]*flight{},
	}
	// With caching off nothing is ever added; the size must still be valid.
	c.lru, _ = simplelru.NewLRU(max(1, cfg.maxEntries), func(e *entry, _ struct{}) { c.unindexLocked(e) })
	c.turn = func(ctx context.Context) error { return c.refresh.wait(ctx, time.Hour) }
	return c
}

func (c *cache) caching() bool { return c.cfg.maxEntries > 0 && c.cfg.maxRefresh > 0 }

// len is the number of cached tokens.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// lookup is get's fast path: the credentials cached for key if they can be
// served as they are, without parsing the token again.
func (c *cache) lookup(key tokenKey, now time.Time) (Credentials, bool) {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		c.mu.Unlock()
		return Credentials{}, false
	}
	if exp := e.expiryOf(key); (!exp.IsZero() && !now.Before(exp)) || !c.servableLocked(e, now) {
		c.mu.Unlock()
		return Credentials{}, false
	}
	c.lru.Get(e) // most recently used
	e.markServed(e.creds.Expiration)
	creds := e.creds
	c.mu.Unlock()
	c.metrics.cache(stateHit)
	return creds, true
}

// servableLocked: e's credentials can be handed out as they are, without
// trying to refresh them first.
func (c *cache) servableLocked(e *entry, now time.Time) bool {
	return e.creds.Expiration.Sub(now) > c.cfg.minServe && (!c.nearExpiry(e, now) || now.Before(e.retryAt))
}

// get returns credentials for tok: cached ones, its pod's if tok is the
// pod's rotated token, or the result of the one fetch in flight for it. A
// request that gives up (ctx) does not cancel the fetch; the result is
// cached for the pod's retry.
func (c *cache) get(ctx context.Context, tok podToken) (Credentials, error) {
	if creds, ok := c.reuse(ctx, tok); ok {
		return creds, nil
	}
	now := c.cfg.now()
	c.mu.Lock()
	if e := c.entries[tok.key]; e != nil {
		if e.creds.Expiration.Sub(now) > c.cfg.minServe {
			c.lru.Get(e)
			if !c.nearExpiry(e, now) || now.Before(e.retryAt) {
				e.markServed(e.creds.Expiration)
				creds := e.creds
				c.mu.Unlock()
				c.metrics.cache(stateHit)
				return creds, nil
			}
			// Near expiry: fresh credentials if they come quickly, else these.
			f := c.flightLocked(tok, false)
			old := e.creds
			c.mu.Unlock()
			wctx, cancel := context.WithTimeout(ctx, c.cfg.staleWait)
			creds, err := c.wait(wctx, f)
			cancel()
			if err == nil {
				c.served(tok.key, creds.Expiration)
				c.metrics.cache(stateHit)
				return creds, nil
			}
			if irrecoverable(err) || ctx.Err() != nil || old.Expiration.Sub(c.cfg.now()) <= c.cfg.minServe {
				return Credentials{}, err
			}
			c.served(tok.key, old.Expiration)
			c.metrics.cache(stateStale)
			return old, nil
		}
		c.removeLocked(e)
		c.metrics.cache(stateEvicted)
	}
	f := c.flightLocked(tok, false)
	c.mu.Unlock()
	c.metrics.cache(stateMiss)
	creds, err := c.wait(ctx, f)
	if err == nil {
		c.served(tok.key, creds.Expiration)
	}
	return creds, err
}

func (c *cache) wait(ctx context.Context, f *flight) (Credentials, error) {
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return Credentials{}, &UpstreamError{Err: fmt.Errorf("gave up waiting for EKS Auth (the fetch goes on; retry shortly): %w", ctx.Err())}
	}
}

// served notes that credentials expiring at exp were handed out for key.
func (c *cache) served(key tokenKey, exp time.Time) {
	c.mu.Lock()
	if e := c.entries[key]; e != nil {
		e.markServed(exp)
	}
	c.mu.Unlock()
}

// markServed notes that e's credentials expiring at exp were handed out:
// it stays refreshed until then, and is no longer idle.
func (e *entry) markServed(exp time.Time) {
	e.servedUntil = later(e.servedUntil, exp)
	e.idle = false
}

// nearExpiry: less than min(15m, a quarter of the credentials' life) left.
func (c *cache) nearExpiry(e *entry, now time.Time) bool {
	window := min(nearExpiryWindow, e.creds.Expiration.Sub(e.fetched)/4)
	return e.creds.Expiration.Sub(now) < window
}

// flightLocked joins the fetch in flight for tok or starts one.
func (c *cache) flightLocked(tok podToken, background bool) *flight {
	if f := c.flights[tok.key]; f != nil {
		return f
	}
	f := &flight{done: make(chan struct{})}
	c.flights[tok.key] = f
	c.wg.Add(1)
	go c.run(tok, f, background)
	return f
}

func (c *cache) run(tok podToken, f *flight, background bool) {
	defer c.wg.Done()
	start := c.cfg.now()
	ctx, cancel := context.WithTimeout(c.life, c.cfg.fetchTimeout)
	creds, err := c.fetch(ctx, tok.raw)
	cancel()
	now := c.cfg.now()
	if err == nil && creds.Expiration.Sub(now) <= c.cfg.minServe {
		err = fmt.Errorf("EKS Auth returned credentials expiring at %s, too soon to serve", creds.Expiration.Format(time.RFC3339))
	}

	c.mu.Lock()
	delete(c.flights, tok.key)
	held := c.entries[tok.key]
	dropped := false
	switch {
	case err == nil && c.caching():
		e := held
		if e != nil {
			c.lru.Get(e)
			c.addTokenLocked(e, tok, true)
		} else {
			// EKS Auth accepted tok, so the pod it names is its own.
			e = &entry{tok: tok, pod: tok.pod}
			c.entries[tok.key] = e
			if e.pod.ok() {
				c.pods[e.pod] = e
			}
			if c.lru.Add(e, struct{}{}) { // the least recently used went
				c.metrics.cache(stateEvicted)
			}
		}
		e.creds, e.fetched = creds, now
		e.refreshAt = now.Add(c.refreshInterval(creds.Expiration.Sub(now)))
		e.retryAt, e.failures = time.Time{}, 0
	case err == nil:
	case irrecoverable(err) && held != nil && held.tok.key != tok.key:
		// One of the pod's verified rotated tokens, sent upstream when the
		// credentials neared expiry: it is refused, not the token EKS Auth
		// accepted, which stays to refresh with.
		c.refuseAliasLocked(held, tok, asUpstreamError(err), now)
	case irrecoverable(err):
		if held != nil {
			c.removeLocked(held)
			c.metrics.cache(stateEvicted)
			dropped = true
		}
	case held != nil:
		held.failures++
		held.retryAt = now.Add(c.retryDelay(held.failures, held.creds.Expiration.Sub(now)))
	}
	c.mu.Unlock()

	attrs := []any{"token", tok.key.String(), "namespace", tok.namespace, "service_account", tok.serviceAccount,
		"pod", tok.podName, "background", background, "duration", now.Sub(start).Round(time.Microsecond).String()}
	switch {
	case err == nil:
		if background {
			c.metrics.cache(stateRefreshed)
		}
		c.log.Info("credentials fetched", append(attrs, "role", creds.RoleARN, "association", creds.AssociationID,
			"access_key_id", creds.AccessKeyID, "expiration", creds.Expiration)...)
	default:
		if background || held != nil {
			c.metrics.refreshFailed(err)
		}
		c.log.Warn("fetching credentials failed", append(attrs, "err", err, "dropped", dropped)...)
	}
	if irrecoverable(err) && held == nil {
		// Before the pod hears the refusal, so that its retry of the same
		// token cannot be answered by reuse.
		c.refuseRotated(tok, asUpstreamError(err))
	}
	f.creds, f.err = creds, err
	close(f.done)
}

// refreshInterval: half the credentials' lifetime, at most maxRefresh, up
// to a tenth earlier at random so that pods started together do not all
// refresh together.
func (c *cache) refreshInterval(ttl time.Duration) time.Duration {
	d := min(ttl/2, c.cfg.maxRefresh)
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d/10)+1))
}

// retryDelay after n failed refreshes: 5s doubling to 1m, plus up to half
// again at random, but early enough to try again before the credentials
// become unservable.
func (c *cache) retryDelay(n int, left time.Duration) time.Duration {
	d := min(5*time.Second<<min(n-1, 8), time.Minute)
	d += time.Duration(rand.Int64N(int64(d/2) + 1))
	if room := left - c.cfg.minServe; room > 0 && d > room/2 {
		d = max(room/2, time.Second)
	}
	return d
}

// removeLocked drops e; the LRU's eviction callback unindexes it.
func (c *cache) removeLocked(e *entry) { c.lru.Remove(e) }

// unindexLocked forgets e under each of its tokens and its pod, as it
// leaves the LRU, removed or evicted.
func (c *cache) unindexLocked(e *entry) {
	delete(c.entries, e.tok.key)
	for k := range e.aliases {
		delete(c.entries, k)
	}
	if c.pods[e.pod] == e {
		delete(c.pods, e.pod)
	}
}

// addTokenLocked makes tok, a token of e's pod, one of e's: the one
// refreshes use if EKS Auth accepted it and it expires last. Beyond
// maxAliases, the token that expires first is forgotten (asked for again,
// it is verified again).
func (c *cache) addTokenLocked(e *entry, tok podToken, accepted bool) {
	if tok.key == e.tok.key {
		e.tok = tok
		return
	}
	if e.aliases == nil {
		e.aliases = map[tokenKey]time.Time{}
	}
	if accepted && tok.expires.After(e.tok.expires) {
		e.aliases[e.tok.key] = e.tok.expires
		delete(e.aliases, tok.key)
		e.tok = tok
	} else {
		e.aliases[tok.key] = tok.expires
	}
	c.entries[tok.key] = e
	for len(e.aliases) > maxAliases {
		first := earliest(e.aliases)
		delete(e.aliases, first)
		delete(c.entries, first)
	}
}

// earliest is the key of m that expires first, the one to give up when an
// entry holds too many tokens.
func earliest(m map[tokenKey]time.Time) tokenKey {
	var first tokenKey
	var firstExp time.Time
	for k, exp := range m {
		if firstExp.IsZero() || exp.Before(firstExp) {
			first, firstExp = k, exp
		}
	}
	return first
}

// runRefresher refreshes due entries and drops expired ones until ctx ends.
func (c *cache) runRefresher(ctx context.Context) {
	t := time.NewTicker(c.cfg.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sweep(ctx)
		}
	}
}

// sweep drops unservable entries and starts background refreshes, at most
// refreshQPS per second, for entries that are due and still wanted: some
// pod holds unexpired credentials from them, and their token has not
// expired (EKS Auth would refuse it). Waiting for a turn can take seconds
// when many entries are due, and meanwhile a pod's own request may have
// refreshed an entry, or its credentials may have lapsed unused; so each
// entry is checked again, under the lock, once its turn has come.
func (c *cache) sweep(ctx context.Context) {
	now := c.cfg.now()
	var due []tokenKey
	c.mu.Lock()
	// Most recently used first: with many entries due, the ones pods use
	// most get their turns first. Keys is a copy, so entries can go.
	for _, e := range slices.Backward(c.lru.Keys()) {
		switch {
		case e.creds.Expiration.Sub(now) <= c.cfg.minServe:
			c.removeLocked(e)
			c.metrics.cache(stateEvicted)
		case !c.dueLocked(e, now):
		case !c.wantedLocked(e, now):
			if !e.idle {
				e.idle = true
				c.metrics.cache(stateIdle)
				c.log.Info("stopped refreshing credentials nobody uses", "token", e.tok.key.String(),
					"namespace", e.tok.namespace, "service_account", e.tok.serviceAccount, "pod", e.tok.podName,
					"expiration", e.creds.Expiration)
			}
		default:
			due = append(due, e.tok.key)
		}
	}
	c.mu.Unlock()
	for _, key := range due {
		if err := c.turn(ctx); err != nil {
			return
		}
		now := c.cfg.now()
		c.mu.Lock()
		if e := c.entries[key]; e != nil && c.renewableLocked(e, now) {
			c.renewLocked(e)
		}
		c.mu.Unlock()
	}
}

// dueLocked: e's refresh time has come, it is not backing off after a
// failure, and no fetch or pod check for it is in flight.
func (c *cache) dueLocked(e *entry, now time.Time) bool {
	return !now.Before(e.refreshAt) && !now.Before(e.retryAt) && c.flights[e.tok.key] == nil && !e.checking
}

// renewableLocked: e is due, wanted and still servable.
func (c *cache) renewableLocked(e *entry, now time.Time) bool {
	return e.creds.Expiration.Sub(now) > c.cfg.minServe && c.dueLocked(e, now) && c.wantedLocked(e, now)
}

// wantedLocked: some pod still holds unexpired credentials from e, and its
// token is still one EKS Auth would take.
func (c *cache) wantedLocked(e *entry, now time.Time) bool {
	return now.Before(e.servedUntil) && (e.tok.expires.IsZero() || now.Before(e.tok.expires))
}

// close cancels fetches in flight and waits for them.
func (c *cache) close() {
	c.stop()
	c.wg.Wait()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
