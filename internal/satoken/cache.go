package satoken

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// tokenCache remembers tokens whose signature and claims have been
// verified, keyed by the SHA-256 of the token so the tokens themselves are
// not kept. An entry is good until the token expires (checked on every
// hit, with the same skew as a fresh check) and while the key that signed
// it is still one of the cluster's keys; TokenReview is not skipped, only
// its answer reused for tokenReviewTTL. When full, the least recently used
// entry goes.
//
// Entries expire each at its own token's expiry, on the validator's clock,
// so the LRU is golang-lru's plain one, not its expirable variant (one TTL
// for all entries, on the wall clock). It is the non-locking simplelru
// under our own mutex, because markReviewed updates an entry in place.
type tokenCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[[sha256.Size]byte, *cacheEntry]
}

type cacheEntry struct {
	cluster       *cluster
	id            podidentity.PodIdentity
	thumb         string    // of the key that signed the token
	reviewedUntil time.Time // TokenReview's answer is good until then
}

// newTokenCache returns a cache of max entries; max must be positive.
func newTokenCache(max int) *tokenCache {
	lru, err := simplelru.NewLRU[[sha256.Size]byte, *cacheEntry](max, nil)
	if err != nil {
		// Only a size below 1 fails, and callers disable the cache instead.
		panic("satoken: " + err.Error())
	}
	return &tokenCache{lru: lru}
}

// get returns a copy of the entry for key if it was verified for c.
func (tc *tokenCache) get(key [sha256.Size]byte, c *cluster) (cacheEntry, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	e, ok := tc.lru.Peek(key)
	if !ok || e.cluster != c {
		return cacheEntry{}, false
	}
	tc.lru.Get(key) // a hit for c makes the entry the most recently used
	return *e, true
}

func (tc *tokenCache) add(key [sha256.Size]byte, e *cacheEntry) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.lru.Add(key, e)
}

// markReviewed records c's TokenReview answer on the entry for key, if that
// entry is still c's: while the review ran, another cluster's validation of
// the same token may have replaced it, and one API server's answer must
// never stand in for another's.
func (tc *tokenCache) markReviewed(key [sha256.Size]byte, c *cluster, until time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if e, ok := tc.lru.Peek(key); ok && e.cluster == c {
		e.reviewedUntil = until
	}
}

func (tc *tokenCache) remove(key [sha256.Size]byte) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.lru.Remove(key)
}

func (tc *tokenCache) len() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.lru.Len()
}
