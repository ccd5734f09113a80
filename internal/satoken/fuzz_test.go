package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// fuzzSigner is an EC key derived from a fixed scalar, so that tokens in
// the committed corpus keep verifying and the fuzzer can start from valid
// tokens. It is a test key and signs nothing else.
func fuzzSigner(t testing.TB) *signer {
	t.Helper()
	d := make([]byte, 32)
	copy(d, "podidentity satoken fuzz key 01")
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{alg: jose.ES256, kid: "fuzz", key: k}
}

func fuzzValidator(t testing.TB) *Validator {
	clk := newClock()
	return newValidator(t, clk, Options{CacheSize: -1}, staticCluster(fuzzSigner(t)))
}

func FuzzValidate(f *testing.F) {
	v := fuzzValidator(f)
	f.Add(fuzzSigner(f).mint(f, validClaims(testEpoch())))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Validate(context.Background(), testCluster, token)
		if err == nil {
			checkIdentity(t, id)
			return
		}
		var pe *podidentity.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %T %v is not a *podidentity.Error", err, err)
		}
		switch pe.Code {
		case podidentity.CodeInvalidParameter, podidentity.CodeInvalidToken, podidentity.CodeExpiredToken:
		default:
			t.Fatalf("unexpected code %s: %v", pe.Code, err)
		}
		if len(token) >= 16 && strings.Contains(pe.Message, token) {
			t.Fatalf("message %q contains the token", pe.Message)
		}
	})
}

// FuzzClaims drives the claim rules directly, which FuzzValidate reaches
// only through a valid signature.
func FuzzClaims(f *testing.F) {
	v := fuzzValidator(f)
	seed, _ := json.Marshal(validClaims(testEpoch()))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, payload []byte) {
		var cl claims
		if json.Unmarshal(payload, &cl) != nil {
			return
		}
		id, err := v.checkClaims(testCluster, &cl, testEpoch())
		if err != nil {
			if c := podidentity.ErrorCode(err); c != podidentity.CodeInvalidToken && c != podidentity.CodeExpiredToken {
				t.Fatalf("unexpected code %s: %v", c, err)
			}
			return
		}
		checkIdentity(t, id)
	})
}

func checkIdentity(t *testing.T, id *podidentity.PodIdentity) {
	t.Helper()
	if id.Namespace == "" || id.ServiceAccount == "" || id.ServiceAccountUID == "" || id.PodName == "" || id.PodUID == "" {
		t.Fatalf("accepted an identity with empty fields: %+v", id)
	}
	if want := "system:serviceaccount:" + id.Namespace + ":" + id.ServiceAccount; id.Subject != want {
		t.Fatalf("accepted subject %q for %q", id.Subject, want)
	}
	if id.TokenExpiry.Add(DefaultSkew).Before(testEpoch()) {
		t.Fatalf("accepted a token that expired at %v", id.TokenExpiry)
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz when
// SATOKEN_WRITE_FUZZ_CORPUS=1; otherwise it only checks that the corpus
// is there.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SATOKEN_WRITE_FUZZ_CORPUS") != "1" {
		for _, target := range []string{"FuzzValidate", "FuzzClaims"} {
			entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
			if err != nil || len(entries) == 0 {
				t.Errorf("no committed seed corpus for %s (%v)", target, err)
			}
		}
		// The corpus's valid token must stay valid, or the fuzzer never
		// gets past the signature.
		data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzValidate", "valid-es256"))
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, _ := strings.Cut(strings.TrimSpace(string(data)), "\nstring(")
		tok, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if err != nil {
			t.Fatalf("corpus entry valid-es256: %v", err)
		}
		if _, err := fuzzValidator(t).Validate(context.Background(), testCluster, tok); err != nil {
			t.Errorf("corpus entry valid-es256 no longer validates: %v", err)
		}
		return
	}
	now := testEpoch()
	s := fuzzSigner(t)
	rsaSigner := newRSASigner(t, "rsa") // not in the fuzz validator's keys
	with := func(mutate func(map[string]any)) map[string]any {
		c := validClaims(now)
		mutate(c)
		return c
	}
	valid := s.mint(t, validClaims(now))
	parts := strings.Split(valid, ".")
	tokens := map[string]string{
		"valid-es256":         valid,
		"valid-aud-string":    s.mint(t, with(func(c map[string]any) { c["aud"] = podidentity.Audience })),
		"expired":             s.mint(t, with(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"wrong-aud":           s.mint(t, with(func(c map[string]any) { c["aud"] = []string{"x"} })),
		"wrong-iss":           s.mint(t, with(func(c map[string]any) { c["iss"] = "https://other" })),
		"no-pod":              s.mint(t, with(func(c map[string]any) { delete(c["kubernetes.io"].(map[string]any), "pod") })),
		"sub-mismatch":        s.mint(t, with(func(c map[string]any) { c["sub"] = "system:serviceaccount:a:b" })),
		"float-dates":         s.mint(t, with(func(c map[string]any) { c["exp"] = 1.9e9 + 0.5; c["iat"] = 1.7e9 })),
		"unknown-kid-rs256":   rsaSigner.mint(t, validClaims(now)),
		"alg-none":            rawToken(t, map[string]any{"alg": "none"}, validClaims(now), []byte{0}),
		"hs256-public-key":    hmacWithPublicKey(t, rsaSigner, validClaims(now)),
		"crit":                s.mint(t, validClaims(now), map[string]any{"crit": []string{"b64"}, "b64": false}),
		"garbage":             "abc.def.ghi",
		"two-segments":        parts[0] + "." + parts[1],
		"four-segments":       valid + ".x",
		"payload-not-json":    parts[0] + "." + b64s("hello") + "." + parts[2],
		"header-array":        b64s("[]") + "." + parts[1] + "." + parts[2],
		"padded":              parts[0] + "==." + parts[1] + "." + parts[2],
		"empty":               "",
		"nested-nulls":        rawToken(t, map[string]any{"alg": "ES256", "kid": "fuzz"}, map[string]any{"iss": testIssuer, "aud": nil, "exp": nil, "kubernetes.io": nil}, make([]byte, 64)),
		"aud-number":          rawToken(t, map[string]any{"alg": "ES256"}, map[string]any{"iss": testIssuer, "aud": 7}, make([]byte, 64)),
		"short-es256-sig":     parts[0] + "." + parts[1] + "." + b64s("short"),
		"huge-exp":            s.mint(t, with(func(c map[string]any) { c["exp"] = 1e300 })),
		"negative-nbf":        s.mint(t, with(func(c map[string]any) { c["nbf"] = -1e300 })),
		"unicode-issuer":      s.mint(t, with(func(c map[string]any) { c["iss"] = "https://é\u0000\u202e" })),
		"duplicate-case-keys": parts[0] + "." + b64s(`{"iss":"`+testIssuer+`","ISS":"x"}`) + "." + parts[2],
	}
	payloads := map[string]string{
		"valid":        string(mustJSON(t, validClaims(now))),
		"aud-string":   string(mustJSON(t, with(func(c map[string]any) { c["aud"] = podidentity.Audience }))),
		"expired":      string(mustJSON(t, with(func(c map[string]any) { c["exp"] = 1 }))),
		"empty-object": "{}",
		"nulls":        `{"aud":null,"exp":null,"nbf":null,"iat":null,"kubernetes.io":null}`,
		"empty-names":  `{"aud":"pods.eks.amazonaws.com","exp":9999999999,"sub":"system:serviceaccount::","kubernetes.io":{"namespace":"","serviceaccount":{"name":"","uid":""},"pod":{"name":"","uid":""}}}`,
		"colon-names":  `{"aud":"pods.eks.amazonaws.com","exp":9999999999,"sub":"system:serviceaccount:a:b:c","kubernetes.io":{"namespace":"a:b","serviceaccount":{"name":"c","uid":"u"},"pod":{"name":"p","uid":"u"}}}`,
	}
	write := func(target, name, value string, asBytes bool) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		typ := "string"
		if asBytes {
			typ = "[]byte"
		}
		data := fmt.Sprintf("go test fuzz v1\n%s(%q)\n", typ, value)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tok := range tokens {
		write("FuzzValidate", name, tok, false)
	}
	for name, p := range payloads {
		write("FuzzClaims", name, p, true)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
