package satoken

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/podidentity"
)

func TestCacheSparesSignatureCheck(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	v := newValidator(t, clk, Options{}, staticCluster(key))
	tok := key.mint(t, validClaims(clk.Now()))

	for i := range 3 {
		got, err := v.Validate(ctx, testCluster, tok)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if diff := cmp.Diff(wantIdentity(clk.Now()), got); diff != "" {
			t.Errorf("call %d (-want +got):\n%s", i, diff)
		}
		// Callers own what they get: changing it must not change the cache.
		got.PodName = "tampered"
	}
	if n := v.sigChecks.Load(); n != 1 {
		t.Errorf("signature checks = %d, want 1", n)
	}
}

func TestCacheExpiresWithToken(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	v := newValidator(t, clk, Options{}, staticCluster(key))
	tok := key.mint(t, validClaims(clk.Now())) // exp = now + 1h
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour + DefaultSkew) // the last instant it is good
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatalf("at exp+skew: %v", err)
	}
	clk.Advance(time.Second)
	_, err := v.Validate(ctx, testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeExpiredToken, "expired at 2026-03-01T13:00:00Z")
	if n := v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after expiry, want 0", n)
	}
	if n := v.sigChecks.Load(); n != 1 {
		t.Errorf("signature checks = %d, want 1", n)
	}
}

func TestCacheBounded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	v := newValidator(t, clk, Options{CacheSize: 3}, staticCluster(key))
	var toks []string
	for i := range 5 {
		c := validClaims(clk.Now())
		c["jti"] = fmt.Sprint(i)
		toks = append(toks, key.mint(t, c))
	}
	for _, tok := range toks {
		if _, err := v.Validate(ctx, testCluster, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	// The two least recently used were evicted: 4 is cached, 0 is not.
	before := v.sigChecks.Load()
	for _, tok := range []string{toks[4], toks[0]} {
		if _, err := v.Validate(ctx, testCluster, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.sigChecks.Load() - before; n != 1 {
		t.Errorf("signature checks = %d, want 1 (for the evicted token only)", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	v := newValidator(t, clk, Options{CacheSize: -1}, staticCluster(key))
	tok := key.mint(t, validClaims(clk.Now()))
	for range 3 {
		if _, err := v.Validate(ctx, testCluster, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.sigChecks.Load(); n != 3 {
		t.Errorf("signature checks = %d, want 3", n)
	}
}

// TestCachePerCluster makes sure a token verified for one cluster is not
// taken for another's, even with the same keys.
func TestCachePerCluster(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	other := staticCluster(key)
	other.Name, other.Issuer = "other", "https://other.example.test"
	v := newValidator(t, clk, Options{}, staticCluster(key), other)
	tok := key.mint(t, validClaims(clk.Now()))
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatal(err)
	}
	_, err := v.Validate(ctx, "other", tok)
	checkErr(t, err, tok, podidentity.CodeInvalidToken, `does not match the issuer of cluster "other"`)
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatalf("back on the right cluster: %v", err)
	}
}

// A TokenReview answer is recorded only on its own cluster's entry: if
// another cluster's validation of the same token replaced the entry while
// the review ran, that cluster's review window stays as it was.
func TestCacheReviewStaysWithItsCluster(t *testing.T) {
	tc := newTokenCache(8)
	var key [32]byte
	a, b := &cluster{}, &cluster{}
	before := time.Unix(1000, 0)
	tc.add(key, &cacheEntry{cluster: a, reviewedUntil: before})
	tc.markReviewed(key, b, before.Add(time.Hour))
	if e, ok := tc.get(key, a); !ok || !e.reviewedUntil.Equal(before) {
		t.Fatalf("cluster a's entry after cluster b's review: %v, %v; want reviewedUntil unchanged", e.reviewedUntil, ok)
	}
	tc.markReviewed(key, a, before.Add(time.Hour))
	if e, _ := tc.get(key, a); !e.reviewedUntil.Equal(before.Add(time.Hour)) {
		t.Errorf("cluster a's own review was not recorded: %v", e.reviewedUntil)
	}
}
