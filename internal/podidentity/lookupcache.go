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
	// patterns holds each cluster's pattern associations, consulted for
	// service accounts without an exact association.
	patterns map[string]patternEntry
}

type patternEntry struct {
	list       []Association
	expires    time.Time
	generation uint64
}

type lookupKey struct {
	cluster string
	key     AssociationKey
}

type lookupEntry struct {
	assoc      *resolved // nil: no association
	expires    time.Time
	generation uint64
}

func newLookupCache(ttl time.Duration, max int) *lookupCache {
	return &lookupCache{ttl: ttl, max: max, entries: make(map[lookupKey]lookupEntry), patterns: make(map[string]patternEntry)}
}

// get returns the cached lookup and whether there was one. The generation
// returned must be passed to put, so that a lookup that raced with a write
// is not cached.
func (c *lookupCache) get(k lookupKey, now time.Time) (*resolved, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.generation != c.generation || now.After(e.expires) {
		return nil, false, c.generation
	}
	return e.assoc, true, c.generation
}

// put caches a lookup until expires, which the caller bounds by the age
// of what it answered from.
func (c *lookupCache) put(k lookupKey, a *resolved, generation uint64, expires time.Time) {
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
	c.entries[k] = lookupEntry{assoc: a, expires: expires, generation: generation}
}

// invalidate forgets every cached lookup.
func (c *lookupCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	clear(c.entries)
	clear(c.patterns)
}

// getPatterns returns a cluster's cached pattern associations, valid for
// lookups of generation.
func (c *lookupCache) getPatterns(cluster string, generation uint64, now time.Time) ([]Association, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.patterns[cluster]
	if !ok || e.generation != generation || generation != c.generation || now.After(e.expires) {
		return nil, time.Time{}, false
	}
	return e.list, e.expires, true
}

// putPatterns caches a cluster's pattern associations; one entry per
// configured cluster, so the map needs no bound of its own.
func (c *lookupCache) putPatterns(cluster string, list []Association, generation uint64, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if generation != c.generation {
		return
	}
	c.patterns[cluster] = patternEntry{list: list, expires: expires, generation: generation}
}
