package awssts

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// cacheKey identifies what a credential was issued for: the association
// with every field that shapes the STS calls, and the pod. Anything that
// would change the request to STS changes the key, so an updated
// association is used at once instead of when cached credentials age out.
type cacheKey [sha256.Size]byte

// keyOf hashes the parts of req that decide which credentials STS returns.
// EKS's session name is left out on purpose: it carries a fresh UUID on
// every request, and reused credentials keep the name they were issued
// under. A stable name from the association's template is in: changing
// the template must change the session.
func keyOf(req *podidentity.CredentialRequest) cacheKey {
	h := sha256.New()
	a, p := &req.Association, &req.Pod
	for _, s := range []string{
		req.Cluster.Name, a.AssociationID, a.RoleARN, a.TargetRoleARN, a.ExternalID, a.Policy,
		p.Namespace, p.ServiceAccount, p.PodName, p.PodUID,
	} {
		writeField(h, s)
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(req.Duration))
	h.Write(n[:])
	if req.StableSessionName {
		h.Write([]byte{1})
		writeField(h, req.SessionName)
	} else {
		h.Write([]byte{0})
	}
	// nil (every tag transitive) and a list differ.
	if req.TransitiveTagKeys == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		binary.BigEndian.PutUint64(n[:], uint64(len(req.TransitiveTagKeys)))
		h.Write(n[:])
		for _, k := range req.TransitiveTagKeys {
			writeField(h, k)
		}
	}
	// nil and empty tags differ: nil means the association disables them.
	if req.SessionTags == nil {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
		keys := make([]string, 0, len(req.SessionTags))
		for k := range req.SessionTags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			writeField(h, k)
			writeField(h, req.SessionTags[k])
		}
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// writeField writes s length-prefixed, so that no two sequences of fields
// hash the same input.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// entry is a cached credential and the instant after which it is no longer
// handed out.
type entry struct {
	creds     podidentity.IssuedCredentials
	refreshAt time.Time
}

// refreshAt is when credentials obtained at issued and expiring at expires
// stop being reused: halfway through their lifetime. The pod then always
// receives at least half the lifetime STS granted, well beyond the SDKs'
// refresh windows (botocore refreshes 15 minutes before expiry, the Go and
// Java SDKs 5 to 15), so reused credentials never make a client refresh
// again at once. ok is false for credentials that cannot be reused at all
// (already expired by our clock).
func refreshAt(issued, expires time.Time) (time.Time, bool) {
	life := expires.Sub(issued)
	if life <= 0 {
		return time.Time{}, false
	}
	return issued.Add(life / 2), true
}

// cache holds credentials per cacheKey. It is bounded: entries past their
// refresh instant are swept out as new ones arrive, and when it is full of
// live entries an arbitrary one makes room (a cache miss costs one STS
// call, never a wrong answer).
type cache struct {
	mu        sync.Mutex
	entries   map[cacheKey]*entry
	max       int
	lastSweep time.Time
}

// sweepEvery bounds how often put scans the whole map for dead entries.
const sweepEvery = time.Minute

func newCache(max int) *cache {
	return &cache{entries: make(map[cacheKey]*entry), max: max}
}

// get returns the credentials cached for k if they may still be handed out
// at now.
func (c *cache) get(k cacheKey, now time.Time) (podidentity.IssuedCredentials, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !now.Before(e.refreshAt) {
		return podidentity.IssuedCredentials{}, false
	}
	return e.creds, true
}

// put caches creds obtained at issued under k, unless they are too short
// lived to be reused.
func (c *cache) put(k cacheKey, creds *podidentity.IssuedCredentials, issued time.Time) {
	at, ok := refreshAt(issued, creds.Expiration)
	if !ok || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if issued.Sub(c.lastSweep) >= sweepEvery || len(c.entries) >= c.max {
		c.sweep(issued)
	}
	if _, exists := c.entries[k]; !exists && len(c.entries) >= c.max {
		for victim := range c.entries {
			delete(c.entries, victim)
			break
		}
	}
	c.entries[k] = &entry{creds: *creds, refreshAt: at}
}

// sweep drops every entry that would no longer be handed out at now.
func (c *cache) sweep(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.refreshAt) {
			delete(c.entries, k)
		}
	}
	c.lastSweep = now
}

// len reports how many entries the cache holds, live or not yet swept.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
