package satoken

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// tokenCache remembers tokens whose signature and claims have been
// verified, keyed by the SHA-256 of the token so the tokens themselves are
// not kept. An entry is good until the token expires (checked on every
// hit, with the same skew as a fresh check) and while the key that signed
// it is still one of the cluster's keys; TokenReview is not skipped, only
// its answer reused for tokenReviewTTL. When full, the least recently used
// entry goes.
type tokenCache struct {
	max int

	mu sync.Mutex
	m  map[[sha256.Size]byte]*list.Element
	ll list.List // of *cacheEntry, most recently used first
}

type cacheEntry struct {
	key           [sha256.Size]byte
	cluster       *cluster
	id            podidentity.PodIdentity
	thumb         string    // of the key that signed the token
	reviewedUntil time.Time // TokenReview's answer is good until then
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns a copy of the entry for key if it was verified for c.
func (tc *tokenCache) get(key [sha256.Size]byte, c *cluster) (cacheEntry, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	el, ok := tc.m[key]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if e.cluster != c {
		return cacheEntry{}, false
	}
	tc.ll.MoveToFront(el)
	return *e, true
}

func (tc *tokenCache) add(key [sha256.Size]byte, e *cacheEntry) {
	e.key = key
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if el, ok := tc.m[key]; ok {
		el.Value = e
		tc.ll.MoveToFront(el)
		return
	}
	for tc.ll.Len() >= tc.max {
		oldest := tc.ll.Back()
		tc.ll.Remove(oldest)
		delete(tc.m, oldest.Value.(*cacheEntry).key)
	}
	tc.m[key] = tc.ll.PushFront(e)
}

// markReviewed records c's TokenReview answer on the entry for key, if that
// entry is still c's: while the review ran, another cluster's validation of
// the same token may have replaced it, and one API server's answer must
// never stand in for another's.
func (tc *tokenCache) markReviewed(key [sha256.Size]byte, c *cluster, until time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if el, ok := tc.m[key]; ok {
		if e := el.Value.(*cacheEntry); e.cluster == c {
			e.reviewedUntil = until
		}
	}
}

func (tc *tokenCache) remove(key [sha256.Size]byte) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if el, ok := tc.m[key]; ok {
		tc.ll.Remove(el)
		delete(tc.m, key)
	}
}

func (tc *tokenCache) len() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.ll.Len()
}
