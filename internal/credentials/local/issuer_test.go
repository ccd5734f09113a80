package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
	"github.com/podidentity/podidentity/internal/testenv"
)

var (
	accessKeyRE = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	secretRE    = regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)
	roleIDRE    = regexp.MustCompile(`^AROA[A-Z0-9]{17}$`)
	tokenRE     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func TestIssue(t *testing.T) {
	base := typicalRequest(t)
	with := func(f func(r *podidentity.CredentialRequest)) *podidentity.CredentialRequest {
		r := *base
		f(&r)
		return &r
	}
	tests := []struct {
		name string
		req  *podidentity.CredentialRequest
		want podidentity.SessionPrincipal // keys and expiration are checked separately
	}{
		{
			name: "role with path, six tags",
			req:  base,
			want: podidentity.SessionPrincipal{
				AccountID:      "111122223333",
				RoleARN:        "arn:aws:iam::111122223333:role/workloads/PaymentsApi",
				AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/PaymentsApi/" + base.SessionName,
				AssumedRoleID:  local.RoleID("arn:aws:iam::111122223333:role/workloads/PaymentsApi") + ":" + base.SessionName,
				SessionName:    base.SessionName,
				SessionTags:    base.SessionTags,
			},
		},
		{
			name: "target role in another account and partition, policy, no tags",
			req: with(func(r *podidentity.CredentialRequest) {
				r.Association.TargetRoleARN = "arn:aws-cn:iam::444455556666:role/Target"
				r.Association.DisableSessionTags = true
				r.Association.Policy = `{"Version":"2012-10-17","Statement":[]}`
				r.SessionTags = nil
				r.SessionName = "eks-x-y-1"
			}),
			want: podidentity.SessionPrincipal{
				AccountID:      "444455556666",
				RoleARN:        "arn:aws-cn:iam::444455556666:role/Target",
				AssumedRoleARN: "arn:aws-cn:sts::444455556666:assumed-role/Target/eks-x-y-1",
				AssumedRoleID:  local.RoleID("arn:aws-cn:iam::444455556666:role/Target") + ":eks-x-y-1",
				SessionName:    "eks-x-y-1",
				Policy:         `{"Version":"2012-10-17","Statement":[]}`,
			},
		},
		{
			name: "gov cloud, short duration",
			req: with(func(r *podidentity.CredentialRequest) {
				r.Association.RoleARN = "arn:aws-us-gov:iam::111122223333:role/Gov"
				r.Duration = 1500 * time.Millisecond
			}),
			want: podidentity.SessionPrincipal{
				AccountID:      "111122223333",
				RoleARN:        "arn:aws-us-gov:iam::111122223333:role/Gov",
				AssumedRoleARN: "arn:aws-us-gov:sts::111122223333:assumed-role/Gov/" + base.SessionName,
				AssumedRoleID:  local.RoleID("arn:aws-us-gov:iam::111122223333:role/Gov") + ":" + base.SessionName,
				SessionName:    base.SessionName,
				SessionTags:    base.SessionTags,
			},
		},
	}
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), testenv.NewClock(t0).Now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := iss.Issue(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !accessKeyRE.MatchString(creds.AccessKeyID) {
				t.Errorf("AccessKeyID = %q, want %s", creds.AccessKeyID, accessKeyRE)
			}
			if !secretRE.MatchString(creds.SecretAccessKey) {
				t.Errorf("SecretAccessKey does not match %s", secretRE)
			}
			if !tokenRE.MatchString(creds.SessionToken) {
				t.Errorf("SessionToken has characters outside base64url")
			}
			wantExp := t0.Add(tt.req.Duration).Truncate(time.Second)
			if !creds.Expiration.Equal(wantExp) || creds.Expiration.Location() != time.UTC {
				t.Errorf("Expiration = %v, want %v in UTC", creds.Expiration, wantExp)
			}
			if creds.AssumedRoleARN != tt.want.AssumedRoleARN || creds.AssumedRoleID != tt.want.AssumedRoleID {
				t.Errorf("assumed role = %q, %q; want %q, %q", creds.AssumedRoleARN, creds.AssumedRoleID, tt.want.AssumedRoleARN, tt.want.AssumedRoleID)
			}

			got, err := iss.Open(creds.SessionToken)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.AccessKeyID, want.SecretAccessKey, want.Expiration = creds.AccessKeyID, creds.SecretAccessKey, creds.Expiration
			if diff := cmp.Diff(&want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("principal in token (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIssueUniqueKeys(t *testing.T) {
	iss, err := local.NewIssuer(local.Config{Keyring: keyring(t, testKey("k1", 1))})
	if err != nil {
		t.Fatal(err)
	}
	req := typicalRequest(t)
	var mu sync.Mutex
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				c, err := iss.Issue(t.Context(), req)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[c.AccessKeyID] || seen[c.SecretAccessKey] || seen[c.SessionToken] {
					t.Errorf("repeated key, secret or token")
				}
				seen[c.AccessKeyID], seen[c.SecretAccessKey], seen[c.SessionToken] = true, true, true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestIssueRefuses(t *testing.T) {
	base := typicalRequest(t)
	with := func(f func(r *podidentity.CredentialRequest)) *podidentity.CredentialRequest {
		r := *base
		r.SessionTags = map[string]string{"k": "v"}
		f(&r)
		return &r
	}
	bigTags := make(map[string]string)
	for i := range 50 {
		bigTags[fmt.Sprintf("tag-%02d-%s", i, strings.Repeat("k", 100))] = strings.Repeat("v", 256)
	}
	tests := []struct {
		name     string
		account  string
		req      *podidentity.CredentialRequest
		wantCode podidentity.Code
		wantMsg  []string
	}{
		{name: "nil request", req: nil, wantCode: podidentity.CodeInternal},
		{name: "zero duration", req: with(func(r *podidentity.CredentialRequest) { r.Duration = 0 }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"duration"}},
		{name: "sub-second duration", req: with(func(r *podidentity.CredentialRequest) { r.Duration = time.Second - 1 }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"duration"}},
		{name: "no session name", req: with(func(r *podidentity.CredentialRequest) { r.SessionName = "" }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"session name"}},
		{name: "bad session name", req: with(func(r *podidentity.CredentialRequest) { r.SessionName = "a b" }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"session name"}},
		{name: "reserved tag", req: with(func(r *podidentity.CredentialRequest) { r.SessionTags = map[string]string{"aws:x": "v"} }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"reserved"}},
		{name: "policy too long", req: with(func(r *podidentity.CredentialRequest) { r.Association.Policy = strings.Repeat("x", 2049) }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"policy"}},
		{name: "no role", req: with(func(r *podidentity.CredentialRequest) { r.Association.RoleARN = "" }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"association role"}},
		{name: "user ARN", req: with(func(r *podidentity.CredentialRequest) { r.Association.RoleARN = "arn:aws:iam::111122223333:user/u" }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"association role"}},
		{name: "bad target", req: with(func(r *podidentity.CredentialRequest) { r.Association.TargetRoleARN = "arn:aws:iam::1:role/x" }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"target role"}},
		{
			name: "everything at once",
			req: with(func(r *podidentity.CredentialRequest) {
				r.Duration, r.SessionName, r.Association.RoleARN = -1, "x", "nope"
			}),
			wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"duration", "session name", "association role"},
		},
		{name: "too large to pack", req: with(func(r *podidentity.CredentialRequest) { r.SessionTags = bigTags }), wantCode: podidentity.CodeInvalidParameter, wantMsg: []string{"too large"}},
		{name: "role in another account", account: "999988887777", req: base, wantCode: podidentity.CodeAccessDenied, wantMsg: []string{"999988887777"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := local.NewIssuer(local.Config{Keyring: keyring(t, testKey("k1", 1)), AccountID: tt.account})
			if err != nil {
				t.Fatal(err)
			}
			creds, err := iss.Issue(t.Context(), tt.req)
			if creds != nil {
				t.Errorf("Issue returned credentials with error %v", err)
			}
			wantCode(t, err, tt.wantCode)
			for _, m := range tt.wantMsg {
				if msg := podidentity.ErrorMessage(err); !strings.Contains(msg, m) {
					t.Errorf("message %q does not mention %q", msg, m)
				}
			}
		})
	}
}

func TestIssueAccountRestriction(t *testing.T) {
	iss, err := local.NewIssuer(local.Config{Keyring: keyring(t, testKey("k1", 1)), AccountID: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	req := typicalRequest(t)
	req.Association.TargetRoleARN = "arn:aws:iam::444455556666:role/CrossAccount"
	creds, err := iss.Issue(t.Context(), req)
	if err != nil {
		t.Fatalf("target role in another account: %v", err)
	}
	if want := "arn:aws:sts::444455556666:assumed-role/CrossAccount/" + req.SessionName; creds.AssumedRoleARN != want {
		t.Errorf("AssumedRoleARN = %q, want %q", creds.AssumedRoleARN, want)
	}
}

func TestNewIssuerValidates(t *testing.T) {
	_, err := local.NewIssuer(local.Config{AccountID: "12345"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"Keyring is required", `AccountID "12345"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestRoleID(t *testing.T) {
	a := local.RoleID("arn:aws:iam::111122223333:role/A")
	if !roleIDRE.MatchString(a) {
		t.Errorf("RoleID = %q, want %s", a, roleIDRE)
	}
	if a != local.RoleID("arn:aws:iam::111122223333:role/A") {
		t.Error("RoleID is not deterministic")
	}
	if a == local.RoleID("arn:aws:iam::111122223333:role/B") {
		t.Error("RoleID is the same for two roles")
	}
	// Pinned: tokens in the wild derive assumed-role ids with it.
	if want := "AROAQGKHE7FMREE2XWSWB"; a != want {
		t.Errorf("RoleID changed: %q, want %q; that needs a new token version", a, want)
	}
}

func TestLookup(t *testing.T) {
	clk := testenv.NewClock(t0)
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), clk.Now)
	creds, err := iss.Issue(t.Context(), typicalRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	other, err := iss.Issue(t.Context(), typicalRequest(t))
	if err != nil {
		t.Fatal(err)
	}

	secret, p, err := iss.Lookup(t.Context(), creds.AccessKeyID, creds.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if secret != creds.SecretAccessKey || p.SecretAccessKey != secret || p.AccessKeyID != creds.AccessKeyID || p.AssumedRoleARN != creds.AssumedRoleARN {
		t.Errorf("Lookup = %q, %+v; does not match the issued credentials", secret, p)
	}

	tests := []struct {
		name        string
		now         time.Time
		key, token  string
		wantKind    sigv4.Kind
		wantMessage string
	}{
		{"another credential's token", t0, creds.AccessKeyID, other.SessionToken, sigv4.InvalidSessionToken, "The security token included in the request is invalid."},
		{"no token", t0, creds.AccessKeyID, "", sigv4.InvalidSessionToken, "The security token included in the request is invalid."},
		{"empty access key", t0, "", creds.SessionToken, sigv4.InvalidSessionToken, "The security token included in the request is invalid."},
		{"garbage token", t0, creds.AccessKeyID, "xyz", sigv4.InvalidSessionToken, "The security token included in the request is invalid."},
		{"expired", creds.Expiration, creds.AccessKeyID, creds.SessionToken, sigv4.ExpiredSessionToken, "The security token included in the request is expired"},
		// A token moved to another key is invalid whether or not it expired.
		{"expired and mismatched", creds.Expiration, creds.AccessKeyID, other.SessionToken, sigv4.InvalidSessionToken, "The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(tt.now)
			secret, p, err := iss.Lookup(t.Context(), tt.key, tt.token)
			if secret != "" || p != nil {
				t.Errorf("Lookup returned a secret or principal with error %v", err)
			}
			wantKind(t, err, tt.wantKind)
			if msg := refusal(err); msg != tt.wantMessage {
				t.Errorf("message = %q, want %q", msg, tt.wantMessage)
			}
		})
	}
}

// TestSigV4 signs requests with issued credentials using the AWS SDK's own
// signer, as a pod would, and checks that the token travels unchanged and
// that Lookup gives back what is needed to reproduce the signature.
func TestSigV4(t *testing.T) {
	clk := testenv.NewClock(t0)
	iss := newIssuer(t, keyring(t, testKey("k1", 1)), clk.Now)
	creds, err := iss.Issue(t.Context(), typicalRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	awsCreds := aws.Credentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
		CanExpire: true, Expires: creds.Expiration, Source: "podidentity-test",
	}
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	sum := sha256.Sum256([]byte(body))
	payloadHash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	signedAt := t0.Add(time.Minute)

	sign := func(c aws.Credentials) *http.Request {
		req, err := http.NewRequest(http.MethodPost, "https://sts.us-east-1.amazonaws.com/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		if err := signer.SignHTTP(t.Context(), c, req, payloadHash, "sts", "us-east-1", signedAt); err != nil {
			t.Fatal(err)
		}
		return req
	}

	signed := sign(awsCreds)
	if got := signed.Header.Get("X-Amz-Security-Token"); got != creds.SessionToken {
		t.Errorf("X-Amz-Security-Token = %q, want the session token unchanged", got)
	}
	auth := signed.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/20250601/us-east-1/sts/aws4_request,") {
		t.Errorf("Authorization = %q, want it to carry the access key id", auth)
	}
	if !strings.Contains(auth, "x-amz-security-token") {
		t.Errorf("Authorization = %q, want the token among the signed headers", auth)
	}

	// The verifier's view: from the request alone, recover the secret and
	// sign the same request again; the signatures must agree.
	secret, p, err := iss.Lookup(t.Context(), creds.AccessKeyID, signed.Header.Get("X-Amz-Security-Token"))
	if err != nil {
		t.Fatal(err)
	}
	again := sign(aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: secret, SessionToken: signed.Header.Get("X-Amz-Security-Token")})
	if again.Header.Get("Authorization") != auth {
		t.Errorf("re-signing with the looked-up secret gives %q, want %q", again.Header.Get("Authorization"), auth)
	}

	// Presigned URLs put the token in the query string; base64url needs no
	// escaping there.
	get, err := http.NewRequest(http.MethodGet, "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	if err != nil {
		t.Fatal(err)
	}
	emptySum := sha256.Sum256(nil)
	presigned, _, err := signer.PresignHTTP(t.Context(), awsCreds, get, hex.EncodeToString(emptySum[:]), "sts", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(presigned)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("X-Amz-Security-Token"); got != creds.SessionToken {
		t.Errorf("presigned X-Amz-Security-Token = %q, want the session token", got)
	}
	if !strings.Contains(u.RawQuery, "X-Amz-Security-Token="+creds.SessionToken) {
		t.Errorf("presigned query %q escapes the token", u.RawQuery)
	}
}

func BenchmarkIssue(b *testing.B) {
	iss, err := local.NewIssuer(local.Config{Keyring: keyring(b, testKey("k1", 1))})
	if err != nil {
		b.Fatal(err)
	}
	req := typicalRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	iss := newIssuer(b, keyring(b, testKey("k1", 1), testKey("k2", 2)), testenv.NewClock(t0).Now)
	creds, err := iss.Issue(b.Context(), typicalRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Open(creds.SessionToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenInvalid(b *testing.B) {
	iss := newIssuer(b, keyring(b, testKey("k1", 1)), testenv.NewClock(t0).Now)
	creds, err := iss.Issue(b.Context(), typicalRequest(b))
	if err != nil {
		b.Fatal(err)
	}
	tampered := []byte(creds.SessionToken)
	// Still base64url, so Open gets as far as the AEAD.
	if i := len(tampered) / 2; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	token := string(tampered)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Open(token); err == nil {
			b.Fatal("tampered token opened")
		}
	}
}
