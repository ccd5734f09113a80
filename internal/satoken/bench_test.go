package satoken

import (
	"context"
	"encoding/base64"
	"testing"
)

// The server's budget is 100 µs of CPU per AssumeRoleForPodIdentity; these
// show what token validation takes of it.

func benchValidate(b *testing.B, s *signer, opts Options) {
	clk := newClock()
	v := newValidator(b, clk, opts, staticCluster(s))
	tok := s.mint(b, validClaims(clk.Now()))
	ctx := context.Background()
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, testCluster, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateRS256 is a cold validation: no token cache.
func BenchmarkValidateRS256(b *testing.B) {
	benchValidate(b, newRSASigner(b, "k1"), Options{CacheSize: -1})
}

// BenchmarkValidateES256 is a cold validation: no token cache.
func BenchmarkValidateES256(b *testing.B) {
	benchValidate(b, newECSigner(b, "k1"), Options{CacheSize: -1})
}

// BenchmarkValidateCached is a repeat of a token already verified.
func BenchmarkValidateCached(b *testing.B) {
	benchValidate(b, newRSASigner(b, "k1"), Options{})
}

// BenchmarkParseToken is the decoding share of a cold validation.
func BenchmarkParseToken(b *testing.B) {
	tok := newECSigner(b, "k1").mint(b, validClaims(testEpoch()))
	enc := base64.RawURLEncoding.Strict()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseToken(enc, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCacheChurn is the cache alone under a working set twice
// its size: every add evicts the least recently used entry, and every
// other operation is a hit.
func BenchmarkTokenCacheChurn(b *testing.B) {
	const size = 1000
	tc := newTokenCache(size)
	c := &cluster{}
	keys := make([][32]byte, 2*size)
	for i := range keys {
		keys[i][0], keys[i][1] = byte(i), byte(i>>8)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if _, ok := tc.get(k, c); !ok {
			tc.add(k, &cacheEntry{cluster: c})
		}
		tc.get(keys[(i+len(keys)-1)%len(keys)], c)
		i++
	}
	if tc.len() != size {
		b.Fatalf("cache holds %d entries, want %d", tc.len(), size)
	}
}
