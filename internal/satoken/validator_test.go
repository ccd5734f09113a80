package satoken

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/podidentity"
)

func TestValidate(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	rsaKey := newRSASigner(t, "rsa-1")
	ecKey := newECSigner(t, "ec-1")
	impostor := newRSASigner(t, "rsa-1") // same kid, other key
	stranger := newRSASigner(t, "rsa-9")
	v := newValidator(t, clk, Options{CacheSize: -1}, staticCluster(rsaKey, ecKey))

	with := func(mutate func(c map[string]any)) map[string]any {
		c := validClaims(now)
		mutate(c)
		return c
	}
	k8s := func(c map[string]any) map[string]any { return c["kubernetes.io"].(map[string]any) }
	valid := rsaKey.mint(t, validClaims(now))
	validParts := strings.Split(valid, ".")

	type tcase struct {
		name  string
		token string
		want  *podidentity.PodIdentity
		code  podidentity.Code
		msg   string
	}
	cases := []tcase{
		{name: "valid RS256", token: valid, want: wantIdentity(now)},
		{name: "valid ES256", token: ecKey.mint(t, validClaims(now)), want: wantIdentity(now)},
		{name: "audience as a string", token: rsaKey.mint(t, with(func(c map[string]any) { c["aud"] = podidentity.Audience })), want: wantIdentity(now)},
		{name: "audience among others", token: rsaKey.mint(t, with(func(c map[string]any) { c["aud"] = []string{"sts.amazonaws.com", podidentity.Audience} })), want: wantIdentity(now)},
		{name: "no kid tries every key", token: (&signer{alg: jose.ES256, key: ecKey.key}).mint(t, validClaims(now)), want: wantIdentity(now)},
		{name: "no nbf and no iat", token: rsaKey.mint(t, with(func(c map[string]any) { delete(c, "nbf"); delete(c, "iat") })), want: wantIdentity(now)},
		{name: "fractional exp", token: rsaKey.mint(t, with(func(c map[string]any) { c["exp"] = float64(now.Add(time.Hour).Unix()) + 0.75 })), want: wantIdentity(now)},
		{
			name:  "expired but within the skew",
			token: rsaKey.mint(t, with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })),
			want: func() *podidentity.PodIdentity {
				id := wantIdentity(now)
				id.TokenExpiry = now.Add(-30 * time.Second).UTC()
				return id
			}(),
		},
		{name: "nbf within the skew", token: rsaKey.mint(t, with(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() })), want: wantIdentity(now)},

		{name: "bad signature", token: validParts[0] + "." + validParts[1] + "." + flipLastByte(t, validParts[2]), code: podidentity.CodeInvalidToken, msg: "signature does not verify"},
		{name: "signature of another token", token: validParts[0] + "." + validParts[1] + "." + strings.Split(rsaKey.mint(t, with(func(c map[string]any) { c["jti"] = "other" })), ".")[2], code: podidentity.CodeInvalidToken, msg: "signature does not verify"},
		{name: "signed by another key with a known kid", token: impostor.mint(t, validClaims(now)), code: podidentity.CodeInvalidToken, msg: `signature does not verify with the keys of cluster "demo"`},
		{name: "unknown kid", token: stranger.mint(t, validClaims(now)), code: podidentity.CodeInvalidToken, msg: `signed by a key (kid "rsa-9", RS256) that is not among the keys of cluster "demo"`},
		{name: "RS256 token relabelled ES256", token: relabel(t, valid, map[string]any{"alg": "ES256", "kid": "rsa-1"}), code: podidentity.CodeInvalidToken, msg: "not among the keys"},
		{name: "ES256 signature under an RSA kid", token: relabel(t, ecKey.mint(t, validClaims(now)), map[string]any{"alg": "ES256", "kid": "rsa-1"}), code: podidentity.CodeInvalidToken, msg: "not among the keys"},
		{name: "wrong issuer", token: rsaKey.mint(t, with(func(c map[string]any) { c["iss"] = "https://kubernetes.default.svc" })), code: podidentity.CodeInvalidToken, msg: `token issuer "https://kubernetes.default.svc" does not match the issuer of cluster "demo"`},
		{name: "issuer with a trailing slash", token: rsaKey.mint(t, with(func(c map[string]any) { c["iss"] = testIssuer + "/" })), code: podidentity.CodeInvalidToken, msg: "does not match the issuer"},
		{name: "no issuer", token: rsaKey.mint(t, with(func(c map[string]any) { delete(c, "iss") })), code: podidentity.CodeInvalidToken, msg: `token issuer "" does not match`},
		{name: "wrong audience", token: rsaKey.mint(t, with(func(c map[string]any) { c["aud"] = []string{"https://kubernetes.default.svc"} })), code: podidentity.CodeInvalidToken, msg: `audience ["https://kubernetes.default.svc"] does not include "pods.eks.amazonaws.com"`},
		{name: "missing audience", token: rsaKey.mint(t, with(func(c map[string]any) { delete(c, "aud") })), code: podidentity.CodeInvalidToken, msg: "the token has no audience"},
		{name: "expired", token: rsaKey.mint(t, with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), code: podidentity.CodeExpiredToken, msg: "expired at 2026-03-01T11:58:00Z"},
		{name: "no exp", token: rsaKey.mint(t, with(func(c map[string]any) { delete(c, "exp") })), code: podidentity.CodeInvalidToken, msg: "no expiry"},
		{name: "exp is a string", token: rsaKey.mint(t, with(func(c map[string]any) { c["exp"] = "tomorrow" })), code: podidentity.CodeInvalidToken, msg: "malformed"},
		{name: "not yet valid", token: rsaKey.mint(t, with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), code: podidentity.CodeInvalidToken, msg: "not valid before 2026-03-01T12:05:00Z"},
		{name: "issued in the future", token: rsaKey.mint(t, with(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() })), code: podidentity.CodeInvalidToken, msg: "issued in the future"},
		{name: "no kubernetes.io claim", token: rsaKey.mint(t, with(func(c map[string]any) { delete(c, "kubernetes.io") })), code: podidentity.CodeInvalidToken, msg: `no "kubernetes.io" claim`},
		{
			name: "bound to a secret, not a pod",
			token: rsaKey.mint(t, with(func(c map[string]any) {
				delete(k8s(c), "pod")
				k8s(c)["secret"] = map[string]any{"name": "app-token", "uid": "0d5f"}
			})),
			code: podidentity.CodeInvalidToken, msg: "lacks pod.name, pod.uid",
		},
		{name: "sub of another service account", token: rsaKey.mint(t, with(func(c map[string]any) { c["sub"] = "system:serviceaccount:team-a:admin" })), code: podidentity.CodeInvalidToken, msg: `subject "system:serviceaccount:team-a:admin" does not match its service account "system:serviceaccount:team-a:app"`},
		{name: "sub of a user", token: rsaKey.mint(t, with(func(c map[string]any) { c["sub"] = "alice" })), code: podidentity.CodeInvalidToken, msg: "does not match its service account"},
		{name: "namespace with a colon", token: rsaKey.mint(t, with(func(c map[string]any) { k8s(c)["namespace"] = "team:a"; c["sub"] = "system:serviceaccount:team:a:app" })), code: podidentity.CodeInvalidToken, msg: `invalid namespace "team:a"`},
		{name: "upper-case service account", token: rsaKey.mint(t, with(func(c map[string]any) {
			k8s(c)["serviceaccount"].(map[string]any)["name"] = "App"
			c["sub"] = "system:serviceaccount:team-a:App"
		})), code: podidentity.CodeInvalidToken, msg: `invalid serviceaccount.name "App"`},
		{name: "pod name with a slash", token: rsaKey.mint(t, with(func(c map[string]any) { k8s(c)["pod"].(map[string]any)["name"] = "../x" })), code: podidentity.CodeInvalidToken, msg: `invalid pod.name "../x"`},
		{name: "alg none with a signature", token: rawToken(t, map[string]any{"alg": "none"}, validClaims(now), []byte("x")), code: podidentity.CodeInvalidToken, msg: `signed with "none"; only RS256 and ES256 are accepted`},
		{name: "alg none, empty signature", token: rawToken(t, map[string]any{"alg": "none"}, validClaims(now), nil), code: podidentity.CodeInvalidParameter, msg: "not a JWT"},
		{name: "HS256 with the RSA public key as secret", token: hmacWithPublicKey(t, rsaKey, validClaims(now)), code: podidentity.CodeInvalidToken, msg: `signed with "HS256"`},
		{name: "PS256", token: (&signer{alg: jose.PS256, kid: "rsa-1", key: rsaKey.key}).mint(t, validClaims(now)), code: podidentity.CodeInvalidToken, msg: `signed with "PS256"`},
		{name: "lowercase alg", token: relabel(t, valid, map[string]any{"alg": "rs256", "kid": "rsa-1"}), code: podidentity.CodeInvalidToken, msg: `signed with "rs256"`},
		{name: "no alg", token: relabel(t, valid, map[string]any{"kid": "rsa-1"}), code: podidentity.CodeInvalidToken, msg: "names no signing algorithm"},
		{name: "critical header extension", token: rsaKey.mint(t, validClaims(now), map[string]any{"crit": []string{"exp"}, "exp": 1}), code: podidentity.CodeInvalidToken, msg: "critical extensions"},
		{name: "garbage segments", token: "abc.def.ghi", code: podidentity.CodeInvalidToken, msg: "malformed"},
		{name: "header not JSON", token: b64s("hello") + "." + validParts[1] + "." + validParts[2], code: podidentity.CodeInvalidToken, msg: "header is not a JSON object"},
		{name: "payload not JSON", token: validParts[0] + "." + b64s("hello") + "." + validParts[2], code: podidentity.CodeInvalidToken, msg: "payload is not a JSON object"},
		{name: "payload a JSON array", token: validParts[0] + "." + b64s("[1,2]") + "." + validParts[2], code: podidentity.CodeInvalidToken, msg: "payload is not a JSON object"},
		{name: "padded base64", token: validParts[0] + "=." + validParts[1] + "." + validParts[2], code: podidentity.CodeInvalidToken, msg: "header is not base64url"},
		{name: "non-canonical base64 signature", token: validParts[0] + "." + validParts[1] + "." + nonCanonical(validParts[2]), code: podidentity.CodeInvalidToken, msg: "signature is not base64url"},
		{name: "two segments", token: validParts[0] + "." + validParts[1], code: podidentity.CodeInvalidParameter, msg: "not a JWT"},
		{name: "four segments", token: valid + ".abc", code: podidentity.CodeInvalidParameter, msg: "not a JWT"},
		{name: "empty segment", token: validParts[0] + ".." + validParts[2], code: podidentity.CodeInvalidParameter, msg: "not a JWT"},
		{name: "empty", token: "", code: podidentity.CodeInvalidParameter, msg: "the token is empty"},
		{name: "bearer prefix", token: "Bearer " + valid, code: podidentity.CodeInvalidParameter, msg: `the token starts with "Bearer "; send the token alone`},
		{name: "trailing newline", token: valid + "\n", code: podidentity.CodeInvalidParameter, msg: "the token ends with a newline"},
		{name: "oversized", token: strings.Repeat("a", MaxTokenSize) + ".b.c", code: podidentity.CodeInvalidParameter, msg: "at most 16384 bytes"},
	}
	for _, field := range []string{"namespace", "serviceaccount.name", "serviceaccount.uid", "pod.name", "pod.uid", "serviceaccount", "pod"} {
		tok := rsaKey.mint(t, with(func(c map[string]any) {
			parent, child, nested := strings.Cut(field, ".")
			if !nested {
				delete(k8s(c), parent)
				return
			}
			delete(k8s(c)[parent].(map[string]any), child)
		}))
		cases = append(cases, tcase{name: "missing " + field, token: tok, code: podidentity.CodeInvalidToken, msg: "the token is not bound to a pod: its kubernetes.io claim lacks " + field})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Validate(context.Background(), testCluster, tc.token)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("identity mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if got != nil {
				t.Errorf("got identity %+v with an error expected", got)
			}
			checkErr(t, err, tc.token, tc.code, tc.msg)
		})
	}
}

func TestValidateUnknownCluster(t *testing.T) {
	clk := newClock()
	key := newECSigner(t, "k")
	v := newValidator(t, clk, Options{}, staticCluster(key))
	tok := key.mint(t, validClaims(clk.Now()))
	_, err := v.Validate(context.Background(), "prod", tok)
	checkErr(t, err, tok, podidentity.CodeNotFound, "No cluster found for name: prod.")
}

func TestValidateSkewOption(t *testing.T) {
	clk := newClock()
	key := newECSigner(t, "k")
	claims := validClaims(clk.Now())
	claims["exp"] = clk.Now().Add(-30 * time.Second).Unix()
	tok := key.mint(t, claims)
	for _, tc := range []struct {
		skew time.Duration
		code podidentity.Code // "" = valid
	}{
		{skew: 0}, // DefaultSkew, a minute
		{skew: 10 * time.Second, code: podidentity.CodeExpiredToken},
		{skew: -1, code: podidentity.CodeExpiredToken},
		{skew: 31 * time.Second},
	} {
		v := newValidator(t, clk, Options{Skew: tc.skew, CacheSize: -1}, staticCluster(key))
		_, err := v.Validate(context.Background(), testCluster, tok)
		if got := codeOf(err); got != tc.code {
			t.Errorf("skew %v: code %q, want %q (err %v)", tc.skew, got, tc.code, err)
		}
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	key := newECSigner(t, "k")
	_, err := New([]ClusterConfig{
		{Name: "a", Issuer: "https://a"}, // no keys
		{Name: "b", Issuer: "", StaticKeys: jwks(key)},
		{Name: "c", Issuer: "https://c", JWKSURL: "https://c/keys", Discovery: true},
		{Name: "d", Issuer: "https://d", JWKSFile: "/does/not/exist.json"},
		{Name: "e", Issuer: "https://e", JWKSURL: "ftp://e/keys"},
		{Name: "f", Issuer: "https://f", StaticKeys: jwks(key), CAFile: "/does/not/exist.pem"},
		{Name: "g", Issuer: "https://g", StaticKeys: jwks(key), TokenReview: &TokenReviewConfig{}},
		{Name: "h", Issuer: "https://h", StaticKeys: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("secret"), KeyID: "hmac"}}}},
		{Name: "ok", Issuer: "https://ok", StaticKeys: jwks(key)},
		{Name: "ok", Issuer: "https://ok", StaticKeys: jwks(key)},
	}, Options{})
	if err == nil {
		t.Fatal("New accepted a broken configuration")
	}
	for _, want := range []string{
		"cluster a: exactly one of jwksFile, jwksURL, discovery and static keys must be set, found 0",
		"cluster b: issuer is empty",
		"cluster c: exactly one of",
		"cluster d: key file: stat /does/not/exist.json",
		`cluster e: key location: "ftp://e/keys" is not an http(s) URL`,
		"cluster f: reading CA bundle",
		"cluster g: tokenReview: apiServer is empty",
		"cluster g: tokenReview: tokenFile is empty",
		"cluster h: static keys: no usable key among 1",
		"cluster ok: declared twice",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestRejectsWeakAndUnusableKeys(t *testing.T) {
	clk := newClock()
	good := newRSASigner(t, "good")
	weak, err := rsaKeyOfSize(1024)
	if err != nil {
		t.Skipf("cannot generate a 1024-bit RSA key here: %v", err)
	}
	weakSigner := &signer{alg: jose.RS256, kid: "weak", key: weak}
	enc := newECSigner(t, "enc")
	encJWK := enc.jwk()
	encJWK.Use = "enc"
	set := jwks(good, weakSigner)
	set.Keys = append(set.Keys, encJWK)
	v := newValidator(t, clk, Options{CacheSize: -1}, ClusterConfig{Name: testCluster, Issuer: testIssuer, StaticKeys: set})

	for _, s := range []*signer{weakSigner, enc} {
		tok := s.mint(t, validClaims(clk.Now()))
		_, err := v.Validate(context.Background(), testCluster, tok)
		checkErr(t, err, tok, podidentity.CodeInvalidToken, "not among the keys")
	}
	if _, err := v.Validate(context.Background(), testCluster, good.mint(t, validClaims(clk.Now()))); err != nil {
		t.Errorf("the good key no longer works: %v", err)
	}
}

func codeOf(err error) podidentity.Code {
	if err == nil {
		return ""
	}
	return podidentity.ErrorCode(err)
}

func b64s(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// flipLastByte changes the signature's last byte.
func flipLastByte(t testing.TB, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(b)
}

// nonCanonical sets the unused low bits of the last base64 character, which
// lenient decoders ignore.
func nonCanonical(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

// relabel replaces a token's header, keeping payload and signature.
func relabel(t testing.TB, token string, header map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	h := strings.Split(rawToken(t, header, []byte{}, nil), ".")[0]
	return h + "." + parts[1] + "." + parts[2]
}

// hmacWithPublicKey forges the classic algorithm-confusion token: HS256,
// keyed with the verifier's RSA public key in PEM, which a careless
// verifier passes to HMAC as the secret.
func hmacWithPublicKey(t testing.TB, s *signer, claims map[string]any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	unsigned := rawToken(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": s.kid}, claims, nil)
	unsigned = strings.TrimSuffix(unsigned, ".")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// maxTokenLifetime refuses tokens issued for longer than the cluster
// allows (exp - iat), and tokens that do not say when they were issued.
func TestMaxTokenLifetime(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	key := newRSASigner(t, "rsa-1")
	c := staticCluster(key)
	c.MaxTokenLifetime = 2 * time.Hour
	v := newValidator(t, clk, Options{}, c)
	lifetime := func(d time.Duration) map[string]any {
		cl := validClaims(now)
		cl["iat"] = now.Add(-time.Minute).Unix()
		cl["exp"] = now.Add(-time.Minute + d).Unix()
		return cl
	}
	if _, err := v.Validate(context.Background(), testCluster, key.mint(t, lifetime(2*time.Hour))); err != nil {
		t.Errorf("a token of exactly the limit: %v", err)
	}
	_, err := v.Validate(context.Background(), testCluster, key.mint(t, lifetime(48*time.Hour)))
	if code := podidentity.ErrorCode(err); code != podidentity.CodeInvalidToken || !strings.Contains(podidentity.ErrorMessage(err), "is valid for 48h0m0s (exp - iat), longer than cluster demo allows (2h0m0s)") {
		t.Errorf("a 48h token: %v", err)
	}
	noIAT := validClaims(now)
	delete(noIAT, "iat")
	if _, err := v.Validate(context.Background(), testCluster, key.mint(t, noIAT)); podidentity.ErrorCode(err) != podidentity.CodeInvalidToken {
		t.Errorf("a token without iat: %v", err)
	}
	// Without the limit the same tokens pass, as before.
	plain := newValidator(t, clk, Options{}, staticCluster(key))
	if _, err := plain.Validate(context.Background(), testCluster, key.mint(t, lifetime(48*time.Hour))); err != nil {
		t.Errorf("no limit: %v", err)
	}
}
