package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
)

// TestDeriveKey checks the signing key against the example in AWS's SigV4
// documentation ("Examples of how to derive a signing key").
func TestDeriveKey(t *testing.T) {
	got := deriveKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("deriveKey = %x, want %s", got, want)
	}
}

func TestSignatureMatchesCryptoHMAC(t *testing.T) {
	req := request{
		amzDate: "20231102T000000Z",
		auth:    authorization{cred: credential{scope: "20231102/us-west-2/a-service-name-long-enough-to-outgrow-the-stack-buffer-of-the-string-to-sign-" + fmt.Sprint(make([]int, 40)) + "/aws4_request"}},
	}
	for _, scope := range []string{"20231102/us-west-2/eks/aws4_request", req.auth.cred.scope} {
		req.auth.cred.scope = scope
		for i, key := range [][32]byte{{}, sha256.Sum256([]byte("k")), {0xff, 0x36, 0x5c}} {
			canonical := []byte(fmt.Sprintf("GET\n/\n\nhost:x\n\nhost\n%d", i))
			mac := hmac.New(sha256.New, key[:])
			mac.Write(req.appendStringToSign(nil, canonical))
			want := mac.Sum(nil)
			got := req.signature(&key, canonical)
			if !hmac.Equal(got[:], want) {
				t.Errorf("signature(%x) = %x, crypto/hmac says %x", key, got, want)
			}
		}
	}
}

func TestKeyCache(t *testing.T) {
	var c keyCache
	cred := func(i int) credential {
		c, err := parseCredential(fmt.Sprintf("AKID%d/20231102/us-west-2/eks/aws4_request", i))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	want := func(secret string) [32]byte { return deriveKey(secret, "20231102", "us-west-2", "eks") }

	if got := c.signingKey(cred(0), "s0"); got != want("s0") {
		t.Fatalf("first key = %x, want %x", got, want("s0"))
	}
	// A rotated secret must not be served the old key.
	if got := c.signingKey(cred(0), "s0-rotated"); got != want("s0-rotated") {
		t.Errorf("key after rotation = %x, want %x", got, want("s0-rotated"))
	}
	// A key in constant use survives any number of others.
	for i := 1; i < 5*keyCacheSize; i++ {
		c.signingKey(cred(i), fmt.Sprintf("s%d", i))
		if i%100 == 0 {
			c.signingKey(cred(0), "s0-rotated")
		}
		if n := len(c.cur) + len(c.old); n > keyCacheSize {
			t.Fatalf("cache holds %d keys, more than %d", n, keyCacheSize)
		}
	}
	if _, ok := c.cur[cred(0).raw]; !ok {
		if _, ok := c.old[cred(0).raw]; !ok {
			t.Error("a key in constant use was evicted")
		}
	}
}

// TestVerifyUsesCache checks that a second verification of the same
// credential does not derive the key again, which is what makes Verify
// cheap; it counts the entries rather than timing.
func TestVerifyUsesCache(t *testing.T) {
	v := newVerifier(signedAt)
	r, body := benchRequest(t)
	for range 3 {
		if _, err := v.Verify(t.Context(), r, body, "eks-auth"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.keys.cur) + len(v.keys.old); n != 1 {
		t.Errorf("cache holds %d keys after three verifications of one credential, want 1", n)
	}
}

// TestVerifyConcurrent shares one Verifier, and so one key cache, between
// goroutines; run with -race it checks the cache's locking.
func TestVerifyConcurrent(t *testing.T) {
	v := newVerifier(signedAt)
	r, body := benchRequest(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := v.Verify(t.Context(), r, body, "eks-auth"); err != nil {
					t.Error(err)
					return
				}
				// Interleave misses so that goroutines also insert and rotate.
				v.keys.signingKey(credential{raw: fmt.Sprintf("K%d-%d/20231102/r/s/aws4_request", g, i), date: "20231102", region: "r", service: "s"}, "x")
			}
		})
	}
	wg.Wait()
}
