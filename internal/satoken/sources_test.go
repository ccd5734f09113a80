package satoken

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/testenv"
)

func TestJWKSFileRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	old := newRSASigner(t, "old")
	next := newECSigner(t, "next")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, jwksJSON(t, old), clk.Now())
	v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSFile: path})

	oldTok := old.mint(t, validClaims(clk.Now()))
	if _, err := v.Validate(ctx, testCluster, oldTok); err != nil {
		t.Fatalf("old key: %v", err)
	}
	nextTok := next.mint(t, validClaims(clk.Now()))
	_, err := v.Validate(ctx, testCluster, nextTok)
	checkErr(t, err, nextTok, podidentity.CodeInvalidToken, `kid "next"`)

	// The cluster starts signing with the new key while publishing both:
	// the unknown kid makes us look at the file again at once.
	writeFile(t, path, jwksJSON(t, old, next), clk.Now().Add(time.Second))
	if _, err := v.Validate(ctx, testCluster, nextTok); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}

	// The old key is withdrawn. Its tokens, although verified and cached
	// before, stop working once the file is checked again.
	writeFile(t, path, jwksJSON(t, next), clk.Now().Add(2*time.Second))
	clk.Advance(fileCheckInterval)
	_, err = v.Validate(ctx, testCluster, oldTok)
	checkErr(t, err, oldTok, podidentity.CodeInvalidToken, `kid "old"`)

	// A broken rewrite (caught half-written) keeps the keys we had.
	writeFile(t, path, []byte(`{"keys": [`), clk.Now().Add(3*time.Second))
	clk.Advance(fileCheckInterval)
	if _, err := v.Validate(ctx, testCluster, nextTok); err != nil {
		t.Fatalf("after a broken rewrite: %v", err)
	}
}

func TestPEMKeyFile(t *testing.T) {
	clk := newClock()
	rsaKey := newRSASigner(t, "")
	ecKey := newECSigner(t, "")
	var pemBytes []byte
	for _, s := range []*signer{rsaKey, ecKey} {
		der, err := x509.MarshalPKIXPublicKey(s.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		pemBytes = append(pemBytes, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
		// Kubernetes names a key by the SHA-256 of its PKIX encoding.
		sum := sha256.Sum256(der)
		s.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	path := filepath.Join(t.TempDir(), "sa.pub")
	writeFile(t, path, pemBytes, clk.Now())
	v := newValidator(t, clk, Options{CacheSize: -1}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSFile: path})
	for _, s := range []*signer{rsaKey, ecKey} {
		got, err := v.Validate(context.Background(), testCluster, s.mint(t, validClaims(clk.Now())))
		if err != nil {
			t.Fatalf("%s: %v", s.alg, err)
		}
		if diff := cmp.Diff(wantIdentity(clk.Now()), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.alg, diff)
		}
	}
	// A kid of our own invention is not Kubernetes' and is refused.
	s := &signer{alg: rsaKey.alg, kid: "made-up", key: rsaKey.key}
	tok := s.mint(t, validClaims(clk.Now()))
	_, err := v.Validate(context.Background(), testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeInvalidToken, "not among the keys")
}

func TestPEMPrivateKeyRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sa.key")
	writeFile(t, path, []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), testEpoch())
	_, err := New([]ClusterConfig{{Name: testCluster, Issuer: testIssuer, JWKSFile: path}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "is a private key; give the public key instead") {
		t.Errorf("New = %v, want the private key refused", err)
	}
}

// jwksServer serves a key set that a test can change, and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	body    []byte
	status  int
	delay   time.Duration
	fetches atomic.Int64
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, http.StatusOK
}

func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	body, status, delay := s.body, s.status, s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	if status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func TestJWKSURL(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	js := &jwksServer{}
	js.set(jwksJSON(t, key))
	srv, caFile := testenv.TLSServer(t, js)
	tok := key.mint(t, validClaims(clk.Now()))

	t.Run("trusted through CAFile", func(t *testing.T) {
		v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL + "/openid/v1/jwks", CAFile: caFile})
		got, err := v.Validate(ctx, testCluster, tok)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantIdentity(clk.Now()), got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("untrusted certificate is unavailable, not the token's fault", func(t *testing.T) {
		v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL + "/openid/v1/jwks"})
		_, err := v.Validate(ctx, testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeUnavailable, `the signing keys of cluster "demo" cannot be fetched right now`)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("the logged cause %q does not name the certificate problem", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		bad := &jwksServer{}
		bad.fail(http.StatusInternalServerError)
		badSrv, badCA := testenv.TLSServer(t, bad)
		v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: badSrv.URL, CAFile: badCA})
		_, err := v.Validate(ctx, testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeUnavailable, "cannot be fetched")
		if err := v.Prefetch(ctx); podidentity.ErrorCode(err) != podidentity.CodeUnavailable {
			t.Errorf("Prefetch = %v, want Unavailable", err)
		}
	})
	t.Run("not a key set", func(t *testing.T) {
		junk := &jwksServer{}
		junk.set([]byte(`<html>hello</html>`))
		junkSrv, junkCA := testenv.TLSServer(t, junk)
		v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: junkSrv.URL, CAFile: junkCA})
		_, err := v.Validate(ctx, testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeUnavailable, "cannot be fetched")
	})
}

func TestDiscovery(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	js := &jwksServer{}
	js.set(jwksJSON(t, key))
	var issuer string
	var discovered atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		discovered.Add(1)
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              "https://" + r.Host + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.Handle("GET /openid/v1/jwks", js)
	srv, caFile := testenv.TLSServer(t, mux)

	issuer = srv.URL
	claims := validClaims(clk.Now())
	claims["iss"] = srv.URL
	tok := key.mint(t, claims)
	v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: srv.URL, Discovery: true, CAFile: caFile})
	if err := v.Prefetch(ctx); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got := []int64{discovered.Load(), js.fetches.Load()}; !cmp.Equal(got, []int64{1, 1}) {
		t.Errorf("discovery and JWKS fetches = %v, want [1 1]", got)
	}

	// A discovery document for another issuer must not be believed.
	issuer = "https://evil.example.test"
	v = newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: srv.URL, Discovery: true, CAFile: caFile})
	_, err := v.Validate(ctx, testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeUnavailable, "cannot be fetched")
	if !strings.Contains(err.Error(), `the discovery document is for issuer "https://evil.example.test"`) {
		t.Errorf("cause %q does not explain the issuer mismatch", err)
	}
}

func TestRemoteKeyRotationAndRateLimit(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1 := newRSASigner(t, "k1")
	k2 := newRSASigner(t, "k2")
	k3 := newECSigner(t, "k3")
	js := &jwksServer{}
	js.set(jwksJSON(t, k1))
	srv, caFile := testenv.TLSServer(t, js)
	v := newValidator(t, clk, Options{MinRefreshInterval: 30 * time.Second, CacheSize: -1},
		ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL, CAFile: caFile})
	validate := func(s *signer) error {
		_, err := v.Validate(ctx, testCluster, s.mint(t, validClaims(clk.Now())))
		return err
	}
	fetches := func(want int64) {
		t.Helper()
		if got := js.fetches.Load(); got != want {
			t.Fatalf("fetches = %d, want %d", got, want)
		}
	}

	if err := validate(k1); err != nil {
		t.Fatal(err)
	}
	fetches(1)
	// Known keys are served from memory.
	for range 5 {
		if err := validate(k1); err != nil {
			t.Fatal(err)
		}
	}
	fetches(1)

	// The cluster rotates to k2; the unknown kid triggers a refetch. The
	// first fetch was "just now" as far as the rate limit is concerned, so
	// let the limit pass first.
	js.set(jwksJSON(t, k1, k2))
	clk.Advance(30 * time.Second)
	if err := validate(k2); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	fetches(2)

	// Unknown kids within the interval do not reach the server.
	js.set(jwksJSON(t, k1, k2, k3))
	for range 10 {
		if code := codeOf(validate(k3)); code != podidentity.CodeInvalidToken {
			t.Fatalf("k3 within the rate limit: code %q, want InvalidToken", code)
		}
		clk.Advance(time.Second)
	}
	fetches(2)
	clk.Advance(20 * time.Second)
	if err := validate(k3); err != nil {
		t.Fatalf("k3 after the rate limit: %v", err)
	}
	fetches(3)
}

func TestRemoteKeysConcurrentRefetch(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1 := newECSigner(t, "k1")
	k2 := newECSigner(t, "k2")
	js := &jwksServer{}
	js.set(jwksJSON(t, k1))
	srv, caFile := testenv.TLSServer(t, js)
	v := newValidator(t, clk, Options{CacheSize: -1}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL, CAFile: caFile})
	if err := v.Prefetch(ctx); err != nil {
		t.Fatal(err)
	}
	js.set(jwksJSON(t, k1, k2))
	js.mu.Lock()
	js.delay = 100 * time.Millisecond
	js.mu.Unlock()
	clk.Advance(DefaultMinRefreshInterval)

	// Twenty pods present a token signed by the new key at once: they all
	// wait for the one fetch rather than being turned away by the limit.
	tok := k2.mint(t, validClaims(clk.Now()))
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, errs[i] = v.Validate(ctx, testCluster, tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if got := js.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2 (initial + one shared refetch)", got)
	}
}

func TestRemoteKeysOutage(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1 := newECSigner(t, "k1")
	k2 := newECSigner(t, "k2")
	js := &jwksServer{}
	js.set(jwksJSON(t, k1))
	srv, caFile := testenv.TLSServer(t, js)
	v := newValidator(t, clk, Options{CacheSize: -1}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL, CAFile: caFile})
	if _, err := v.Validate(ctx, testCluster, k1.mint(t, validClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}

	srv.Close()
	clk.Advance(time.Hour) // keys are now stale, and the limit has passed

	// Keys fetched before still verify.
	if _, err := v.Validate(ctx, testCluster, k1.mint(t, validClaims(clk.Now()))); err != nil {
		t.Fatalf("cached keys during the outage: %v", err)
	}
	// A token whose key we cannot look up is not blamed on the pod, be it
	// while the rate limit holds the next attempt back or when the next
	// attempt fails again.
	tok := k2.mint(t, validClaims(clk.Now()))
	for range 2 {
		_, err := v.Validate(ctx, testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeUnavailable, "cannot be fetched")
		clk.Advance(DefaultMinRefreshInterval)
	}
	if got := js.fetches.Load(); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func TestRemoteKeysNeverFetched(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	key := newECSigner(t, "k1")
	js := &jwksServer{}
	srv, caFile := testenv.TLSServer(t, js)
	srv.Close()
	v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL, CAFile: caFile})
	tok := key.mint(t, validClaims(clk.Now()))
	for range 3 { // the first attempt, then the rate limit's remembered failure
		_, err := v.Validate(ctx, testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeUnavailable, `the signing keys of cluster "demo" cannot be fetched right now; retry the request`)
	}
	// A token of another issuer is still told so, without any keys.
	claims := validClaims(clk.Now())
	claims["iss"] = "https://elsewhere"
	other := key.mint(t, claims)
	_, err := v.Validate(ctx, testCluster, other)
	checkErr(t, err, other, podidentity.CodeInvalidToken, "does not match the issuer")
}

func TestRemoteKeysRevalidatedInBackground(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1 := newECSigner(t, "k1")
	k2 := newECSigner(t, "k2")
	js := &jwksServer{}
	js.set(jwksJSON(t, k1, k2))
	srv, caFile := testenv.TLSServer(t, js)
	v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: testIssuer, JWKSURL: srv.URL, CAFile: caFile})
	tok := k1.mint(t, validClaims(clk.Now()))
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatal(err)
	}

	// The cluster withdraws k1. Once our copy is older than maxKeysAge a
	// request triggers a background fetch; it is answered with the keys
	// we had, and later requests see the new set, even for a cached token.
	js.set(jwksJSON(t, k2))
	clk.Advance(maxKeysAge + time.Second)
	if _, err := v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatalf("while revalidating: %v", err)
	}
	waitFor(t, func() bool {
		_, err := v.Validate(ctx, testCluster, tok)
		return codeOf(err) == podidentity.CodeInvalidToken
	})
	if got := js.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
