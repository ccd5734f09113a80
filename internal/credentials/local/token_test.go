package local_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
	"github.com/podidentity/podidentity/internal/testenv"
)

func TestSealOpenRoundTrip(t *testing.T) {
	exp := t0.Add(time.Hour).Truncate(time.Second)
	roleARN := "arn:aws:iam::111122223333:role/app/Reader"
	derived := podidentity.SessionPrincipal{
		AccessKeyID:     "ASIAAAAAAAAAAAAAAAAA",
		SecretAccessKey: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ+/01",
		AccountID:       "111122223333",
		RoleARN:         roleARN,
		AssumedRoleARN:  "arn:aws:sts::111122223333:assumed-role/Reader/eks-c-p-1",
		AssumedRoleID:   local.RoleID(roleARN) + ":eks-c-p-1",
		SessionName:     "eks-c-p-1",
		Expiration:      exp,
	}
	with := func(f func(p *podidentity.SessionPrincipal)) podidentity.SessionPrincipal {
		p := derived
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    podidentity.SessionPrincipal
	}{
		{"derived fields, no tags", derived},
		{"eks tags", with(func(p *podidentity.SessionPrincipal) {
			p.SessionTags = map[string]string{
				"eks-cluster-arn": "arn:aws:eks:us-east-1:111122223333:cluster/c", "eks-cluster-name": "c",
				"kubernetes-namespace": "ns", "kubernetes-service-account": "sa",
				"kubernetes-pod-name": "p", "kubernetes-pod-uid": "",
			}
		})},
		{"custom and unicode tags", with(func(p *podidentity.SessionPrincipal) {
			p.SessionTags = map[string]string{"team": "Zahlungsverkehr ü", "": "empty key", "eks-cluster-arn": "x"}
		})},
		{"policy and source identity", with(func(p *podidentity.SessionPrincipal) {
			p.Policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`
			p.SourceIdentity = "alice"
		})},
		{"fields not derivable", with(func(p *podidentity.SessionPrincipal) {
			p.AccountID = "999999999999"
			p.AssumedRoleARN = "arn:aws:sts::999999999999:assumed-role/Other/x"
			p.AssumedRoleID = "AROAOTHER:x"
		})},
		{"unparsable role ARN", with(func(p *podidentity.SessionPrincipal) { p.RoleARN = "not-an-arn" })},
		{"keys in foreign forms", with(func(p *podidentity.SessionPrincipal) {
			p.AccessKeyID = "AKIAIOSFODNN7EXAMPLE"
			p.SecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
		})},
		{"lower-case access key", with(func(p *podidentity.SessionPrincipal) { p.AccessKeyID = "ASIAaaaaaaaaaaaaaaaa" })},
		{"sub-second expiration", with(func(p *podidentity.SessionPrincipal) { p.Expiration = exp.Add(123456789) })},
		{"aws-cn partition", with(func(p *podidentity.SessionPrincipal) {
			p.RoleARN = "arn:aws-cn:iam::111122223333:role/Cn"
			p.AssumedRoleARN = "arn:aws-cn:sts::111122223333:assumed-role/Cn/eks-c-p-1"
			p.AssumedRoleID = local.RoleID(p.RoleARN) + ":eks-c-p-1"
		})},
		{"empty except expiration", podidentity.SessionPrincipal{Expiration: exp}},
	}
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), testenv.NewClock(t0).Now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := iss.Seal(&tt.p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := iss.Open(token)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.p, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Open(Seal(p)) (-want +got):\n%s", diff)
			}
			if got.Expiration.Location() != time.UTC {
				t.Errorf("Expiration location = %v, want UTC", got.Expiration.Location())
			}
		})
	}
}

func TestSealUniqueTokens(t *testing.T) {
	iss, err := local.NewIssuer(local.Config{Keyring: keyring(t, testKey("k1", 1))})
	if err != nil {
		t.Fatal(err)
	}
	p := &podidentity.SessionPrincipal{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", Expiration: time.Now().Add(time.Hour)}
	a, _ := iss.Seal(p)
	b, _ := iss.Seal(p)
	if a == b {
		t.Error("two seals of one principal gave the same token: nonces repeat")
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey("old", 1), testKey("new", 2)
	now := testenv.NewClock(t0).Now
	p := &podidentity.SessionPrincipal{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", Expiration: t0.Add(time.Hour)}

	sealWith := func(keys ...local.Key) string {
		token, err := newIssuer(t, keyring(t, keys...), now).Seal(p)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	byOld := sealWith(oldKey)
	byNewFirst := sealWith(newKey, oldKey)

	tests := []struct {
		name  string
		token string
		ring  []local.Key
		ok    bool
	}{
		{"old token, old ring", byOld, []local.Key{oldKey}, true},
		{"old token, new key added second", byOld, []local.Key{oldKey, newKey}, true},
		{"old token, new key first", byOld, []local.Key{newKey, oldKey}, true},
		{"old token, old key dropped", byOld, []local.Key{newKey}, false},
		{"new token, new ring", byNewFirst, []local.Key{newKey}, true},
		{"new token, old ring", byNewFirst, []local.Key{oldKey}, false},
		// Same id, different secret: a foreign deployment's key.
		{"old token, impostor key with the same id", byOld, []local.Key{testKey("old", 9)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newIssuer(t, keyring(t, tt.ring...), now).Open(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			wantKind(t, err, sigv4.InvalidSessionToken)
			if msg := refusal(err); msg != "The security token included in the request is invalid." {
				t.Errorf("message = %q", msg)
			}
		})
	}
}

// TestTampering flips bits in every byte of every region of a token, and
// changes every character of its text, and expects each to be refused.
func TestTampering(t *testing.T) {
	ring := keyring(t, testKey("k1", 1), testKey("k2", 2))
	iss := newIssuer(t, ring, testenv.NewClock(t0).Now)
	creds, err := iss.Issue(t.Context(), typicalRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(creds.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	hdr := 2 + int(raw[1])
	regions := []struct {
		name       string
		start, end int
	}{
		{"version", 0, 1},
		{"key id length", 1, 2},
		{"key id", 2, hdr},
		{"nonce", hdr, hdr + 12},
		{"ciphertext", hdr + 12, len(raw) - 16},
		{"tag", len(raw) - 16, len(raw)},
	}
	for _, r := range regions {
		t.Run(r.name, func(t *testing.T) {
			if r.end <= r.start {
				t.Fatalf("empty region [%d,%d)", r.start, r.end)
			}
			for i := r.start; i < r.end; i++ {
				for _, bit := range []byte{0x01, 0x80, 0xff} {
					b := append([]byte(nil), raw...)
					b[i] ^= bit
					_, err := iss.Open(base64.RawURLEncoding.EncodeToString(b))
					if sigv4.KindOf(err) != sigv4.InvalidSessionToken {
						t.Fatalf("byte %d ^ %#x: Open error = %v, want invalid session token", i, bit, err)
					}
				}
			}
		})
	}
	t.Run("relabelled to another key of the ring", func(t *testing.T) {
		b := append([]byte(nil), raw...)
		copy(b[2:hdr], "k2")
		_, err := iss.Open(base64.RawURLEncoding.EncodeToString(b))
		wantKind(t, err, sigv4.InvalidSessionToken)
	})
	t.Run("truncated and extended", func(t *testing.T) {
		for n := range len(raw) {
			if _, err := iss.Open(base64.RawURLEncoding.EncodeToString(raw[:n])); sigv4.KindOf(err) != sigv4.InvalidSessionToken {
				t.Fatalf("first %d bytes: Open error = %v", n, err)
			}
		}
		long := append(append([]byte(nil), raw...), 0)
		_, err := iss.Open(base64.RawURLEncoding.EncodeToString(long))
		wantKind(t, err, sigv4.InvalidSessionToken)
	})
	t.Run("every character of the text", func(t *testing.T) {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		tok := creds.SessionToken
		for i := range len(tok) {
			for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%64], '=', '+', ' '} {
				mod := tok[:i] + string(c) + tok[i+1:]
				if _, err := iss.Open(mod); sigv4.KindOf(err) != sigv4.InvalidSessionToken {
					t.Fatalf("character %d changed to %q: Open error = %v", i, c, err)
				}
			}
		}
	})
}

func TestOpenGarbage(t *testing.T) {
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), testenv.NewClock(t0).Now)
	valid, err := iss.Seal(&podidentity.SessionPrincipal{Expiration: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{
		"empty":              "",
		"one char":           "A",
		"spaces":             strings.Repeat(" ", 100),
		"NULs":               strings.Repeat("\x00", 100),
		"not utf8":           strings.Repeat("\xff\xfe", 50),
		"std base64":         base64.StdEncoding.EncodeToString([]byte(strings.Repeat("?>", 60))),
		"padded url base64":  valid + "==",
		"aws sts token":      "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQDexample" + strings.Repeat("A", 400),
		"header only":        base64.RawURLEncoding.EncodeToString([]byte{1, 2, 'k', '1'}),
		"zero key id length": base64.RawURLEncoding.EncodeToString(append([]byte{1, 0}, make([]byte, 40)...)),
		"key id overruns":    base64.RawURLEncoding.EncodeToString(append([]byte{1, 255, 'k'}, make([]byte, 40)...)),
		"unknown key id":     base64.RawURLEncoding.EncodeToString(append([]byte{1, 2, 'z', 'z'}, make([]byte, 60)...)),
		"version 0":          base64.RawURLEncoding.EncodeToString(append([]byte{0, 2, 'k', '1'}, make([]byte, 60)...)),
		"version 2":          base64.RawURLEncoding.EncodeToString(append([]byte{2, 2, 'k', '1'}, make([]byte, 60)...)),
		"zero ciphertext":    base64.RawURLEncoding.EncodeToString(append([]byte{1, 2, 'k', '1'}, make([]byte, 60)...)),
		"too long":           strings.Repeat("A", local.MaxTokenLen+1),
		"max length":         strings.Repeat("A", local.MaxTokenLen),
		"twice the token":    valid + valid,
		"token with newline": valid + "\n",
		"bearer prefix":      "Bearer " + valid,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := iss.Open(in)
			wantKind(t, err, sigv4.InvalidSessionToken)
			if in != "" && len(in) > 8 && strings.Contains(err.Error(), in[:8]) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	clk := testenv.NewClock(t0)
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), clk.Now)
	req := typicalRequest(t)
	req.Duration = time.Hour
	creds, err := iss.Issue(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	wantExp := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC) // t0+1h, fraction dropped
	if !creds.Expiration.Equal(wantExp) {
		t.Fatalf("Expiration = %v, want %v", creds.Expiration, wantExp)
	}
	tests := []struct {
		name string
		now  time.Time
		want sigv4.Kind // 0 for success
	}{
		{"just issued", t0, 0},
		{"long before the epoch of the token", t0.Add(-24 * time.Hour), 0},
		{"one nanosecond before", wantExp.Add(-1), 0},
		{"at the expiration", wantExp, sigv4.ExpiredSessionToken},
		{"one nanosecond after", wantExp.Add(1), sigv4.ExpiredSessionToken},
		{"a year after", wantExp.AddDate(1, 0, 0), sigv4.ExpiredSessionToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(tt.now)
			_, errOpen := iss.Open(creds.SessionToken)
			_, _, errLookup := iss.Lookup(t.Context(), creds.AccessKeyID, creds.SessionToken)
			for _, err := range []error{errOpen, errLookup} {
				if tt.want == 0 {
					if err != nil {
						t.Fatalf("at %v: %v", tt.now, err)
					}
					continue
				}
				wantKind(t, err, tt.want)
				if msg := refusal(err); msg != "The security token included in the request is expired" {
					t.Errorf("message = %q", msg)
				}
			}
		})
	}
}

// TestTokenSize checks that a typical token stays small and reports how it
// compares with JSON, which the binary encoding replaced.
func TestTokenSize(t *testing.T) {
	iss := newIssuer(t, keyring(t, testKey("2025-06", 1)), testenv.NewClock(t0).Now)
	req := typicalRequest(t)
	creds, err := iss.Issue(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	p, err := iss.Open(creds.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	jsonTokenLen := base64.RawURLEncoding.EncodedLen(2 + len("2025-06") + 12 + len(js) + 16)
	t.Logf("typical token, 6 tags: %d characters (JSON plaintext would give %d)", len(creds.SessionToken), jsonTokenLen)
	if len(creds.SessionToken) > 1024 {
		t.Errorf("typical token is %d characters, want at most 1024", len(creds.SessionToken))
	}
	if len(creds.SessionToken) >= jsonTokenLen*2/3 {
		t.Errorf("binary token (%d) is not clearly smaller than a JSON one (%d)", len(creds.SessionToken), jsonTokenLen)
	}
}
