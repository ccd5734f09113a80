package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// keyCacheSize bounds the number of derived signing keys kept. A key is
// valid for one access key, day, region and service, so even a busy server
// needs about one per active caller.
const keyCacheSize = 1024

// keyCache remembers derived signing keys, which cost four HMACs each, so
// that verifying a request costs one SHA-256 of the canonical request and
// one HMAC. Entries are keyed by the credential string
// (AKID/date/region/service/aws4_request) and hold the secret they were
// derived from, so a rotated secret is noticed rather than served stale.
//
// It is bounded with two generations instead of an LRU list: lookups hit
// the current map, fall back to (and promote from) the previous one, and
// when the current map is full it becomes the previous one. Keys in use
// survive; keys not used for a generation are dropped.
type keyCache struct {
	mu       sync.Mutex
	cur, old map[string]cachedKey
}

type cachedKey struct {
	secret string
	key    [32]byte
}

// signingKey returns the signing key for cred and secret, deriving and
// caching it on a miss.
func (c *keyCache) signingKey(cred credential, secret string) [32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Comparing secrets with == is fine here: both come from the server's
	// own Lookup, never from the request, so timing reveals nothing.
	if e, ok := c.cur[cred.raw]; ok && e.secret == secret {
		return e.key
	}
	e, ok := c.old[cred.raw]
	if !ok || e.secret != secret {
		e = cachedKey{secret: secret, key: deriveKey(secret, cred.date, cred.region, cred.service)}
	}
	if c.cur == nil || len(c.cur) >= keyCacheSize/2 {
		c.old, c.cur = c.cur, make(map[string]cachedKey, keyCacheSize/2)
	}
	// Clone: cred.raw is a slice of the request's header, which the
	// cache must not keep alive.
	c.cur[strings.Clone(cred.raw)] = e
	return e.key
}

// deriveKey computes the SigV4 signing key:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveKey(secret, date, region, service string) [32]byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], scopeTerminator)
}

func hmacSHA256(key []byte, data string) [32]byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	var out [32]byte
	mac.Sum(out[:0])
	return out
}
