package local

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// The fuzz corpus doubles as the token format's golden files: its valid
// seeds were sealed by an earlier build with fuzzKey, and must keep opening
// to the same principals, or credentials in the wild would break on upgrade.
// Regenerate (only for a deliberate format change, with a new version) with
//
//	PODIDENTITY_WRITE_CORPUS=1 go test -run TestFuzzCorpus ./internal/credentials/local
const writeCorpusEnv = "PODIDENTITY_WRITE_CORPUS"

var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fuzzIssuer(t testing.TB, keys ...Key) *Issuer {
	t.Helper()
	if len(keys) == 0 {
		keys = []Key{{ID: "fuzz", Secret: bytes.Repeat([]byte{0x42}, SecretSize)}}
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(Config{Keyring: kr, Now: func() time.Time { return fuzzNow }, Rand: rand.NewChaCha8([32]byte{7})})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// goldenPrincipals are the principals sealed in the valid seeds.
func goldenPrincipals() map[string]*podidentity.SessionPrincipal {
	role := "arn:aws:iam::111122223333:role/workloads/PaymentsApi"
	name := "eks-prod-eu-west-1-payments-ap-2f1c0a4e-9b7d-4c3e-8a5f-0d1e2f3a4b5c"[:64]
	return map[string]*podidentity.SessionPrincipal{
		"valid-typical": {
			AccessKeyID: "ASIAQ6HZT5YFKX2LMN3P", SecretAccessKey: "Zq9vL2m8Xk4Rj7Tn1Wp5Yb3Hc6Fd0Gs+Ae/Ui8Oz",
			AccountID: "111122223333", RoleARN: role,
			AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/PaymentsApi/" + name,
			AssumedRoleID:  RoleID(role) + ":" + name,
			SessionName:    name,
			SessionTags: map[string]string{
				"eks-cluster-arn": "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu-west-1", "eks-cluster-name": "prod-eu-west-1",
				"kubernetes-namespace": "payments", "kubernetes-service-account": "payments-api",
				"kubernetes-pod-name": "payments-api-7f9c6d5b8-x2k4q", "kubernetes-pod-uid": "8d3c6f0e-5b1a-4c2e-9f47-1a2b3c4d5e6f",
			},
			Expiration: fuzzNow.Add(6 * time.Hour),
		},
		"valid-target-policy": {
			AccessKeyID: "ASIAAAAABBBBCCCCDDDD", SecretAccessKey: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ+/01",
			AccountID: "444455556666", RoleARN: "arn:aws-cn:iam::444455556666:role/Target",
			AssumedRoleARN: "arn:aws-cn:sts::444455556666:assumed-role/Target/eks-c-p-1",
			AssumedRoleID:  RoleID("arn:aws-cn:iam::444455556666:role/Target") + ":eks-c-p-1",
			SessionName:    "eks-c-p-1",
			Policy:         `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`,
			Expiration:     fuzzNow.Add(59 * time.Minute),
		},
		"valid-explicit-fields": {
			AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "short",
			AccountID: "999999999999", RoleARN: "not-an-arn", AssumedRoleARN: "x", AssumedRoleID: "y",
			SessionName: "s", SourceIdentity: "alice",
			SessionTags: map[string]string{"team": "ü", "": ""},
			Expiration:  fuzzNow.Add(time.Hour + 123456789),
		},
	}
}

// corpusSeeds returns every seed, by file name, with the code Open must
// fail with ("" for the valid ones).
func corpusSeeds(t testing.TB) map[string]struct {
	token string
	code  sigv4.Kind
} {
	iss := fuzzIssuer(t)
	seeds := make(map[string]struct {
		token string
		code  sigv4.Kind
	})
	add := func(name, token string, code sigv4.Kind) {
		seeds[name] = struct {
			token string
			code  sigv4.Kind
		}{token, code}
	}
	golden := goldenPrincipals()
	for _, name := range []string{"valid-typical", "valid-target-policy", "valid-explicit-fields"} {
		tok, err := iss.Seal(golden[name])
		if err != nil {
			t.Fatal(err)
		}
		add(name, tok, 0)
	}
	expired := *golden["valid-target-policy"]
	expired.Expiration = fuzzNow.Add(-time.Second)
	tok, err := iss.Seal(&expired)
	if err != nil {
		t.Fatal(err)
	}
	add("expired", tok, sigv4.ExpiredSessionToken)
	other := fuzzIssuer(t, Key{ID: "other", Secret: bytes.Repeat([]byte{0x43}, SecretSize)})
	if tok, err = other.Seal(golden["valid-typical"]); err != nil {
		t.Fatal(err)
	}
	add("foreign-key", tok, sigv4.InvalidSessionToken)
	typical, _ := iss.Seal(golden["valid-typical"])
	add("truncated", typical[:len(typical)/2], sigv4.InvalidSessionToken)
	add("empty", "", sigv4.InvalidSessionToken)
	add("aws-token", "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQD+/=", sigv4.InvalidSessionToken)
	add("header-only", "AQRmdXp6", sigv4.InvalidSessionToken)
	return seeds
}

func corpusFile(token string) []byte {
	return []byte("go test fuzz v1\nstring(" + strconv.Quote(token) + ")\n")
}

// TestFuzzCorpus checks the committed seeds: the valid ones still open to
// their principals, the others fail as they should.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	seeds := corpusSeeds(t)
	if os.Getenv(writeCorpusEnv) != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), corpusFile(s.token), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	iss := fuzzIssuer(t)
	golden := goldenPrincipals()
	for name, s := range seeds {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("committed seed missing (%v); regenerate with %s=1", err, writeCorpusEnv)
			}
			body, ok := strings.CutPrefix(string(data), "go test fuzz v1\nstring(")
			if !ok {
				t.Fatalf("%s is not a fuzz corpus file", name)
			}
			token, err := strconv.Unquote(strings.TrimSuffix(body, ")\n"))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			p, err := iss.Open(token)
			if s.code != 0 {
				if sigv4.KindOf(err) != s.code {
					t.Fatalf("Open(%s) error = %v, want code %s", name, err, s.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v: a committed token no longer opens", name, err)
			}
			if diff := cmp.Diff(golden[name], p, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Open(%s) (-want +got):\n%s", name, diff)
			}
		})
	}
}

// FuzzOpen feeds arbitrary strings to Open: it must never panic, must fail
// only with the two session-token codes, and whatever opens must survive a
// second seal and open unchanged.
func FuzzOpen(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s.token)
	}
	iss := fuzzIssuer(f)
	f.Fuzz(func(t *testing.T, token string) {
		p, err := iss.Open(token)
		if err != nil {
			if p != nil {
				t.Fatalf("Open returned a principal with error %v", err)
			}
			switch c := sigv4.KindOf(err); c {
			case sigv4.InvalidSessionToken, sigv4.ExpiredSessionToken:
			default:
				t.Fatalf("Open error code %s: %v", c, err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token[:16]) {
				t.Fatalf("error %q quotes the token", err)
			}
			return
		}
		again, err := iss.Seal(p)
		if err != nil {
			t.Fatalf("Seal of an opened principal: %v", err)
		}
		p2, err := iss.Open(again)
		if err != nil {
			t.Fatalf("Open(Seal(Open(token))): %v", err)
		}
		if diff := cmp.Diff(p, p2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("principal changed on reseal (-first +second):\n%s", diff)
		}
	})
}

// FuzzDecodePrincipal reaches the plaintext decoder directly, which FuzzOpen
// cannot: without the key, the fuzzer never gets past authentication.
func FuzzDecodePrincipal(f *testing.F) {
	for _, p := range goldenPrincipals() {
		f.Add(appendPrincipal(nil, p))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add([]byte{flagsKnown, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePrincipal(string(b))
		if err != nil {
			return
		}
		p2, err := decodePrincipal(string(appendPrincipal(nil, p)))
		if err != nil {
			t.Fatalf("re-encoding a decoded principal does not decode: %v", err)
		}
		if diff := cmp.Diff(p, p2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("principal changed on re-encoding (-first +second):\n%s", diff)
		}
	})
}

// TestDecodeRejects covers decoder paths the fuzz seeds reach only by luck.
func TestDecodeRejects(t *testing.T) {
	valid := appendPrincipal(nil, goldenPrincipals()["valid-typical"])
	tests := map[string][]byte{
		"empty":         {},
		"unknown flag":  append([]byte{0x80}, valid[1:]...),
		"trailing byte": append(append([]byte(nil), valid...), 0),
	}
	for name, b := range tests {
		if _, err := decodePrincipal(string(b)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	for n := range len(valid) {
		if _, err := decodePrincipal(string(valid[:n])); err == nil {
			t.Errorf("first %d of %d bytes decoded", n, len(valid))
		}
	}
	// A duplicated well-known tag: count 2, both index 1.
	// Twelve zero bytes are no flags and eleven empty or zero fields.
	empty := make([]byte, 12)
	dup := append(empty[:12:12], 2, 1, 0, 1, 0)
	if _, err := decodePrincipal(string(dup)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate tag: error = %v", err)
	}
	huge := append(empty[:12:12], 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := decodePrincipal(string(huge)); err == nil || !strings.Contains(err.Error(), "tags in") {
		t.Errorf("huge tag count: error = %v", err)
	}
	farFuture := []byte{0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}
	if _, err := decodePrincipal(string(farFuture)); err == nil || !strings.Contains(err.Error(), "expiration") {
		t.Errorf("far-future expiration: error = %v", err)
	}
	if _, err := fuzzIssuer(t).Seal(&podidentity.SessionPrincipal{Expiration: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("Seal of a year-10000 expiration: no error")
	}
}
