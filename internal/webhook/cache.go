package webhook

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache remembers association lookups for a short time, so that a
// Deployment scaled to a hundred replicas costs one lookup, not a hundred.
// Answers expire quickly because they go stale in both directions: a pod
// created just after its association must still get credentials (a known
// EKS complaint is that it sometimes does not), which is why "no
// association" is kept for less time than "has one". Errors are never kept.
// Concurrent lookups of one service account share a single call.
type Cache struct {
	src         AssociationChecker
	positiveTTL time.Duration
	negativeTTL time.Duration
	now         func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	m     map[cacheKey]cacheEntry
}

type cacheKey struct{ namespace, serviceAccount string }

type cacheEntry struct {
	has     bool
	expires time.Time
}

// sweepAt is the size at which expired entries are dropped; entries are
// few (one per service account creating pods) and short-lived.
const sweepAt = 1024

// NewCache wraps src. A TTL of zero or less disables caching of that answer.
// now nil means time.Now.
func NewCache(src AssociationChecker, positiveTTL, negativeTTL time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{src: src, positiveTTL: positiveTTL, negativeTTL: negativeTTL, now: now, m: map[cacheKey]cacheEntry{}}
}

// HasAssociation implements AssociationChecker.
func (c *Cache) HasAssociation(ctx context.Context, namespace, serviceAccount string) (bool, error) {
	k := cacheKey{namespace, serviceAccount}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.has, nil
	}
	ch := c.group.DoChan(namespace+"\x00"+serviceAccount, func() (any, error) {
		// Detached from the first caller, so that its timeout or
		// cancellation does not fail the others sharing the call; it
		// keeps that caller's deadline, though.
		lctx := context.WithoutCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			lctx, cancel = context.WithDeadline(lctx, d)
			defer cancel()
		}
		has, err := c.src.HasAssociation(lctx, namespace, serviceAccount)
		if err != nil {
			return false, err
		}
		ttl := c.negativeTTL
		if has {
			ttl = c.positiveTTL
		}
		if ttl > 0 {
			c.store(k, cacheEntry{has: has, expires: c.now().Add(ttl)})
		}
		return has, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return false, r.Err
		}
		return r.Val.(bool), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (c *Cache) store(k cacheKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= sweepAt {
		now := c.now()
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
	}
	c.m[k] = e
}
