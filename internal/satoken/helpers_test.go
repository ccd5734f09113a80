package satoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/testenv"
)

const (
	testCluster = "demo"
	testIssuer  = "https://oidc.demo.example.test/id/0123456789ABCDEF"
	testNS      = "team-a"
	testSA      = "app"
	testSAUID   = "1f7c6a8e-2f0b-4c3a-9d55-0a1b2c3d4e5f"
	testPod     = "app-7d9f8c6b5-x2k4p"
	testPodUID  = "9b2e4d10-7c3a-4f6e-8a21-5d4c3b2a1908"
	testSubject = "system:serviceaccount:team-a:app"
)

// testEpoch is a fixed instant so tokens and expectations are
// reproducible.
func testEpoch() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// newClock is a settable time source shared by a test and its Validator.
func newClock() *testenv.Clock { return testenv.NewClock(testEpoch()) }

// signer is a cluster's token-signing key.
type signer struct {
	alg jose.SignatureAlgorithm
	kid string
	key crypto.Signer
}

func newRSASigner(t testing.TB, kid string) *signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{alg: jose.RS256, kid: kid, key: k}
}

func newECSigner(t testing.TB, kid string) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{alg: jose.ES256, kid: kid, key: k}
}

// jwk is the public JWK of s, as a cluster publishes it.
func (s *signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

func jwks(signers ...*signer) *jose.JSONWebKeySet {
	set := &jose.JSONWebKeySet{}
	for _, s := range signers {
		set.Keys = append(set.Keys, s.jwk())
	}
	return set
}

func jwksJSON(t testing.TB, signers ...*signer) []byte {
	t.Helper()
	b, err := json.Marshal(jwks(signers...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mint signs claims with go-jose, an implementation independent of the
// code under test. extra adds header fields.
func (s *signer) mint(t testing.TB, claims map[string]any, extra ...map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	for _, e := range extra {
		for k, v := range e {
			opts = opts.WithHeader(jose.HeaderKey(k), v)
		}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken builds a token from a header, claims and signature of our
// choosing, for the malformed and forged cases go-jose will not produce.
func rawToken(t testing.TB, header, claims any, sig []byte) string {
	t.Helper()
	enc := func(v any) string {
		if b, ok := v.([]byte); ok {
			return base64.RawURLEncoding.EncodeToString(b)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// validClaims are the claims of a real projected token, issued a minute
// before now and good for an hour.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"sub": testSubject,
		"aud": []string{podidentity.Audience},
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"jti": "0e8f4f5c-5b8a-4f0e-b0c2-1a2b3c4d5e6f",
		"kubernetes.io": map[string]any{
			"namespace": testNS,
			"node":      map[string]any{"name": "ip-10-0-1-23.ec2.internal", "uid": "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
			"pod":       map[string]any{"name": testPod, "uid": testPodUID},
			"serviceaccount": map[string]any{
				"name": testSA,
				"uid":  testSAUID,
			},
		},
	}
}

func wantIdentity(now time.Time) *podidentity.PodIdentity {
	return &podidentity.PodIdentity{
		Cluster:           testCluster,
		Namespace:         testNS,
		ServiceAccount:    testSA,
		ServiceAccountUID: testSAUID,
		PodName:           testPod,
		PodUID:            testPodUID,
		Subject:           testSubject,
		TokenExpiry:       time.Unix(now.Add(time.Hour).Unix(), 0).UTC(),
	}
}

// newValidator builds a Validator on clk, failing the test on error.
func newValidator(t testing.TB, clk *testenv.Clock, opts Options, clusters ...ClusterConfig) *Validator {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	v, err := New(clusters, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func staticCluster(signers ...*signer) ClusterConfig {
	return ClusterConfig{Name: testCluster, Issuer: testIssuer, StaticKeys: jwks(signers...)}
}

// checkErr compares err with the wanted code and message fragment, and
// makes sure neither the message nor the full error carries the token.
func checkErr(t testing.TB, err error, token string, wantCode podidentity.Code, wantMsg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", wantCode)
	}
	var pe *podidentity.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %v, want a *podidentity.Error", err, err)
	}
	if pe.Code != wantCode {
		t.Errorf("code = %s, want %s (message %q)", pe.Code, wantCode, pe.Message)
	}
	if !strings.Contains(pe.Message, wantMsg) {
		t.Errorf("message %q does not contain %q", pe.Message, wantMsg)
	}
	if len(token) >= 16 && (strings.Contains(pe.Message, token) || strings.Contains(err.Error(), token)) {
		t.Errorf("error %q contains the token", err.Error())
	}
	if len(token) >= 64 {
		// No segment of a real token either.
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 16 && strings.Contains(err.Error(), seg) {
				t.Errorf("error %q contains a segment of the token", err.Error())
			}
		}
	}
}

// writeFile writes data and sets its modification time explicitly, so
// that rewrites are noticed even on file systems with coarse timestamps.
func writeFile(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func rsaKeyOfSize(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }
