package podidentity

import (
	"sync"
	"time"
)

// lookupCache remembers which association (or none) a service account
// maps to, for AssumeRoleForPodIdentity: the one hot read, made on every
// credential refresh of every pod.
//
// Every write through this Service bumps a generation that empties the
// cache, so on a single server a change is visible to the very next
// request. Writes made through another replica become visible within ttl:
// that bound is the whole of the staleness, and the docs state it.
type lookupCache struct {
	ttl time.Duration
	max int

	mu         sync.Mutex
	generation uint64
	entries    map[lookupKey]lookupEntry
}

type lookupKey struct {
	cluster string
	key     AssociationKey
}

type lookupEntry struct {
	assoc      *Association // nil: no association
	expires    time.Time
	generation uint64
}

func newLookupCache(ttl time.Duration, max int) *lookupCache {
	return &lookupCache{ttl: ttl, max: max, entries: make(map[lookupKey]lookupEntry)}
}

// get returns the cached lookup and whether there was one. The generation
// returned must be passed to put, so that a lookup that raced with a write
// is not cached.
func (c *lookupCache) get(k lookupKey, now time.Time) (*Association, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.generation != c.generation || now.After(e.expires) {
		return nil, false, c.generation
	}
	return e.assoc, true, c.generation
}

func (c *lookupCache) put(k lookupKey, a *Association, generation uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if generation != c.generation {
		return
	}
	if len(c.entries) >= c.max {
		// Dropping everything is crude but bounded and rare: the cache
		// holds one entry per service account in use.
		clear(c.entries)
	}
	c.entries[k] = lookupEntry{assoc: a, expires: now.Add(c.ttl), generation: generation}
}

// invalidate forgets every cached lookup.
func (c *lookupCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	clear(c.entries)
}
