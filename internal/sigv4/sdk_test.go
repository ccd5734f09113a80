package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// These tests sign with aws-sdk-go-v2's signer, send the request over a
// real connection to an httptest.Server and verify it there, so the
// request goes through the Go client's and server's own header handling.

var signedAt = time.Date(2023, 11, 2, 0, 0, 0, 0, time.UTC)

var (
	longTermCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tempCreds     = aws.Credentials{AccessKeyID: "ASIAEXAMPLETEMPORARY", SecretAccessKey: "tmpSecret/with+symbols=", SessionToken: testToken}
)

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// sdkRequest describes a request for the Go signer to sign.
type sdkRequest struct {
	method  string
	target  string // path and query as the client should send them
	body    string
	headers http.Header
	service string // default "eks"
	region  string // default us-west-2
	creds   aws.Credentials
	at      time.Time // default signedAt
	hash    string    // payload hash to sign; default the body's
}

// signSDK builds and signs the request for srv with the Go SDK signer.
func signSDK(t *testing.T, srv *awsServer, sr sdkRequest) *http.Request {
	t.Helper()
	req, err := http.NewRequest(sr.method, srv.URL+sr.target, strings.NewReader(sr.body))
	if err != nil {
		t.Fatal(err)
	}
	if sr.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range sr.headers {
		req.Header[k] = vs
	}
	if sr.service == "" {
		sr.service = "eks"
	}
	if sr.region == "" {
		sr.region = testRegion
	}
	if sr.at.IsZero() {
		sr.at = signedAt
	}
	if sr.creds.AccessKeyID == "" {
		sr.creds = longTermCreds
	}
	if sr.hash == "" {
		sr.hash = payloadHash([]byte(sr.body))
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), sr.creds, req, sr.hash, sr.service, sr.region, sr.at); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
	return req
}

// send sends req and returns the status and what the server's Verify said.
func send(t *testing.T, srv *awsServer, req *http.Request) (int, outcome) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("sending request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, srv.last(t)
}

func newVerifier(now time.Time) *Verifier[string] {
	return &Verifier[string]{Lookup: lookupFrom(defaultKeys()), Now: fixedClock(now)}
}

func TestVerifySDKSigned(t *testing.T) {
	tests := []struct {
		name string
		req  sdkRequest
		// after changes the request after signing without changing what
		// was signed, as a proxy or another client's encoder might.
		after func(*http.Request)
		want  Result[string]
	}{
		{
			name: "list clusters",
			req:  sdkRequest{method: "GET", target: "/clusters"},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "session token",
			req:  sdkRequest{method: "GET", target: "/clusters", creds: tempCreds},
			want: Result[string]{AccessKeyID: "ASIAEXAMPLETEMPORARY", SessionToken: testToken, Caller: "assumed-role/demo"},
		},
		{
			name: "arn in path",
			req:  sdkRequest{method: "GET", target: "/tags/" + demoARNEscaped},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "query needing escaping",
			req: sdkRequest{method: "GET", target: "/clusters/demo/pod-identity-associations?" + url.Values{
				"namespace":      {"kube-system"},
				"serviceAccount": {"a b/c~d*e'f"},
				"nextToken":      {"x+y=z/é&"},
				"maxResults":     {"10", "2"},
				"empty":          {""},
			}.Encode()},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "query re-encoded on the wire",
			req:  sdkRequest{method: "GET", target: "/clusters/demo/pod-identity-associations?b=x%20y&a=%7E1&c=%2F"},
			after: func(r *http.Request) {
				// Same parameters, other order, '+' for space, %7E for '~', lower-case hex.
				r.URL.RawQuery = "c=%2f&b=x+y&a=%7E1"
			},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "json body",
			req:  sdkRequest{method: "POST", target: "/clusters/demo/pod-identity-associations", body: `{"namespace":"default","serviceAccount":"app","roleArn":"arn:aws:iam::111122223333:role/app"}`, headers: http.Header{"Content-Type": {"application/json"}}},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "eks auth",
			req:  sdkRequest{method: "POST", target: "/clusters/demo/assume-role-identity", body: `{"token":"x"}`, service: "eks-auth", creds: tempCreds},
			want: Result[string]{AccessKeyID: "ASIAEXAMPLETEMPORARY", SessionToken: testToken, Service: "eks-auth", Caller: "assumed-role/demo"},
		},
		{
			name: "sts form body",
			req:  sdkRequest{method: "POST", target: "/", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts", region: "us-east-1", headers: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
			want: Result[string]{AccessKeyID: testAKID, Service: "sts", Region: "us-east-1", Caller: "user/example"},
		},
		{
			name: "unusual header casing and whitespace",
			req: sdkRequest{method: "GET", target: "/clusters", headers: http.Header{
				"x-custom-HEADER": {"  a   b\t c  "},
				"X-Multi":         {"one", " two   three "},
				"X-Empty":         {""},
			}},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "dot segments signed as sent",
			req:  sdkRequest{method: "GET", target: "/clusters/./demo//x/../y"},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "path signed normalised, as botocore does",
			req:  sdkRequest{method: "GET", target: "/clusters/demo/y"},
			after: func(r *http.Request) {
				r.URL.Path, r.URL.RawPath = "/clusters/./demo//x/../y", ""
			},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "x-amz-content-sha256 header",
			req:  sdkRequest{method: "POST", target: "/clusters/demo/pod-identity-associations", body: "{}", headers: http.Header{"X-Amz-Content-Sha256": {payloadHash([]byte("{}"))}}},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "unsigned payload without a body",
			req:  sdkRequest{method: "GET", target: "/clusters/demo/pod-identity-associations", hash: unsignedPayload, headers: http.Header{"X-Amz-Content-Sha256": {unsignedPayload}}},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example"},
		},
		{
			name: "signed ten minutes ago",
			req:  sdkRequest{method: "GET", target: "/clusters", at: signedAt.Add(-10 * time.Minute)},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example", SignedAt: signedAt.Add(-10 * time.Minute)},
		},
		{
			name: "signed ten minutes ahead",
			req:  sdkRequest{method: "GET", target: "/clusters", at: signedAt.Add(10 * time.Minute)},
			want: Result[string]{AccessKeyID: testAKID, Caller: "user/example", SignedAt: signedAt.Add(10 * time.Minute)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAWSServer(t, newVerifier(signedAt))
			req := signSDK(t, srv, tt.req)
			if tt.after != nil {
				tt.after(req)
			}
			status, got := send(t, srv, req)
			if got.Err != nil || status != http.StatusOK {
				t.Fatalf("status %d, Verify error: %v", status, got.Err)
			}
			want := tt.want
			if want.Service == "" {
				want.Service = "eks"
			}
			if want.Region == "" {
				want.Region = testRegion
			}
			if want.SignedAt.IsZero() {
				want.SignedAt = signedAt
			}
			if diff := cmp.Diff(&want, got.Result); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyTampering(t *testing.T) {
	base := sdkRequest{
		method:  "POST",
		target:  "/clusters/demo/pod-identity-associations?namespace=default",
		body:    `{"serviceAccount":"app"}`,
		headers: http.Header{"Content-Type": {"application/json"}, "X-Custom": {"signed"}},
		creds:   tempCreds,
	}
	tests := []struct {
		name    string
		sign    func(*sdkRequest)
		after   func(*http.Request)
		verify  func(*Verifier[string])
		code    Kind
		message string
	}{
		{name: "untouched"},
		{
			name:  "body",
			after: func(r *http.Request) { setBody(r, `{"serviceAccount":"adm"}`) },
			code:  SignatureMismatch, message: msgSignatureMismatch,
		},
		{
			// A body nobody signed could be swapped on the way, so it is
			// refused even when the signature over the rest is right.
			name: "unsigned payload with a body",
			sign: func(sr *sdkRequest) {
				sr.hash = unsignedPayload
				sr.headers = http.Header{"X-Amz-Content-Sha256": {unsignedPayload}, "X-Custom": {"signed"}}
			},
			code:    SignatureMismatch,
			message: "x-amz-content-sha256 UNSIGNED-PAYLOAD is accepted only for requests without a body; sign the SHA-256 of the body.",
		},
		{
			name:  "path",
			after: func(r *http.Request) { r.URL.Path = "/clusters/prod/pod-identity-associations" },
			code:  SignatureMismatch, message: msgSignatureMismatch,
		},
		{
			name:  "path escaping",
			sign:  func(sr *sdkRequest) { sr.target = "/tags/" + demoARNEscaped },
			after: func(r *http.Request) { r.URL.RawPath = "/tags/" + strings.ReplaceAll(demoARNEscaped, "%3A", ":") },
			code:  SignatureMismatch,
		},
		{
			name:  "query value",
			after: func(r *http.Request) { r.URL.RawQuery = "namespace=kube-system" },
			code:  SignatureMismatch,
		},
		{
			name:  "query parameter added",
			after: func(r *http.Request) { r.URL.RawQuery += "&maxResults=1" },
			code:  SignatureMismatch,
		},
		{
			name:  "method",
			after: func(r *http.Request) { r.Method = "PUT" },
			code:  SignatureMismatch,
		},
		{
			name:  "signed header",
			after: func(r *http.Request) { r.Header.Set("X-Custom", "changed") },
			code:  SignatureMismatch,
		},
		{
			name:  "signed header removed",
			after: func(r *http.Request) { r.Header.Del("X-Custom") },
			code:  SignatureMismatch,
		},
		{
			name:  "host",
			after: func(r *http.Request) { r.Host = "eks.attacker.example" },
			code:  SignatureMismatch,
		},
		{
			name:  "date within the skew",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20231102T000001Z") },
			code:  SignatureMismatch,
		},
		{
			name:  "date on another day than the scope",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20231101T235959Z") },
			code:  SignatureMismatch, message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231102' != '20231101', from '20231101T235959Z'.",
		},
		{
			name:  "session token swapped",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "another-token") },
			code:  UnrecognizedClient, message: "The security token included in the request is invalid.",
		},
		{
			name:   "session token swapped, lookup ignores tokens",
			after:  func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "another-token") },
			verify: func(v *Verifier[string]) { v.Lookup = ignoreToken(v.Lookup) },
			code:   SignatureMismatch,
		},
		{
			name: "wrong secret",
			sign: func(sr *sdkRequest) { sr.creds.SecretAccessKey = "not-the-secret" },
			code: SignatureMismatch, message: msgSignatureMismatch,
		},
		{
			name: "unknown access key",
			sign: func(sr *sdkRequest) { sr.creds = aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"} },
			code: UnrecognizedClient, message: "The security token included in the request is invalid.",
		},
		{
			name: "wrong service",
			sign: func(sr *sdkRequest) { sr.service = "sts" },
			code: SignatureMismatch, message: "Credential should be scoped to correct service: 'eks'.",
		},
		{
			name:   "wrong region",
			sign:   func(sr *sdkRequest) { sr.region = "us-east-1" },
			verify: func(v *Verifier[string]) { v.Regions = []string{"us-west-2", "eu-west-1"} },
			code:   SignatureMismatch, message: "Credential should be scoped to a valid region, not 'us-east-1'.",
		},
		{
			name:   "region in the list",
			sign:   func(sr *sdkRequest) { sr.region = "eu-west-1" },
			verify: func(v *Verifier[string]) { v.Regions = []string{"us-west-2", "eu-west-1"} },
		},
		{
			name: "signed too long ago",
			sign: func(sr *sdkRequest) { sr.at = signedAt.Add(-16 * time.Minute) },
			code: RequestExpired, message: "Signature expired: 20231101T234400Z is now earlier than 20231101T234500Z (20231102T000000Z - 15 min.)",
		},
		{
			name: "signed in the future",
			sign: func(sr *sdkRequest) { sr.at = signedAt.Add(16 * time.Minute) },
			code: RequestExpired, message: "Signature not yet current: 20231102T001600Z is still later than 20231102T001500Z (20231102T000000Z + 15 min.)",
		},
		{
			name:   "shorter skew",
			sign:   func(sr *sdkRequest) { sr.at = signedAt.Add(-90 * time.Second) },
			verify: func(v *Verifier[string]) { v.MaxSkew = time.Minute },
			code:   RequestExpired, message: "(20231102T000000Z - 1 min.)",
		},
		{
			name:  "no authorization",
			after: func(r *http.Request) { r.Header.Del("Authorization") },
			code:  MissingAuth, message: "Request is missing Authentication Token",
		},
		{
			name: "host removed from signed headers",
			after: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";host;", ";", 1))
			},
			code: IncompleteSignature, message: "'Host' or ':authority' must be a 'SignedHeader'",
		},
		{
			name: "unsigned header added",
			// Headers outside SignedHeaders are not covered, as in AWS.
			after: func(r *http.Request) { r.Header.Set("X-Unsigned", "anything") },
		},
		{
			name:  "content hash header for another body",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", payloadHash([]byte("other"))) },
			code:  SignatureMismatch, message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
		},
		{
			name:  "malformed content hash header",
			after: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") },
			code:  IncompleteSignature,
		},
		{
			name:  "both header and query authentication",
			after: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=" + goodSig },
			code:  IncompleteSignature, message: "Only one auth mechanism allowed",
		},
		{
			name: "lookup failure passes through",
			verify: func(v *Verifier[string]) {
				v.Lookup = func(context.Context, string, string) (string, string, error) {
					return "", "", &Error{Kind: ExpiredSessionToken, Message: "The security token included in the request is expired"}
				}
			},
			code: ExpiredSessionToken, message: "The security token included in the request is expired",
		},
		{
			name: "lookup crash is internal",
			verify: func(v *Verifier[string]) {
				v.Lookup = func(context.Context, string, string) (string, string, error) {
					return "", "", errors.New("database is down")
				}
			},
			code: notRefused, message: "an internal error occurred",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(signedAt)
			if tt.verify != nil {
				tt.verify(v)
			}
			srv := newAWSServer(t, v)
			sr := base
			if tt.sign != nil {
				tt.sign(&sr)
			}
			req := signSDK(t, srv, sr)
			if tt.after != nil {
				tt.after(req)
			}
			_, got := send(t, srv, req)
			if code := codeOf(t, got.Err); code != tt.code {
				t.Fatalf("Verify error = %v, want code %q", got.Err, tt.code)
			}
			if got.Err == nil {
				return
			}
			msg := messageOf(got.Err)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not contain %q", msg, tt.message)
			}
			// Nothing secret may reach the client or the logs.
			for _, secret := range []string{testToken, tempCreds.SecretAccessKey, "another-token"} {
				if strings.Contains(got.Err.Error(), secret) {
					t.Errorf("error %q contains a secret", got.Err)
				}
			}
		})
	}
}

func ignoreToken(l SecretLookup[string]) SecretLookup[string] {
	return func(ctx context.Context, akid, _ string) (string, string, error) {
		return l(ctx, akid, testToken)
	}
}

func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
}

// TestMismatchDebug checks that the log-only detail of a mismatch shows
// the canonical request, so a failing client can be diagnosed, without the
// session token or the signature we expected.
func TestMismatchDebug(t *testing.T) {
	srv := newAWSServer(t, newVerifier(signedAt))
	req := signSDK(t, srv, sdkRequest{method: "GET", target: "/clusters?a=1", creds: tempCreds})
	good := req.Header.Get("Authorization")
	req.Header.Set("Authorization", flipLastHex(good))
	_, got := send(t, srv, req)
	if codeOf(t, got.Err) != SignatureMismatch {
		t.Fatalf("Verify error = %v, want a mismatch", got.Err)
	}
	detail := got.Err.Error()
	want := `GET\n/clusters\na=1\nhost:` + strings.TrimPrefix(srv.URL, "http://") + `\nx-amz-date:20231102T000000Z\nx-amz-security-token:<redacted>\n\nhost;x-amz-date;x-amz-security-token\n` + payloadHash(nil)
	if !strings.Contains(detail, want) {
		t.Errorf("error detail %q does not contain the canonical request %q", detail, want)
	}
	goodSig := good[strings.LastIndex(good, "=")+1:]
	if strings.Contains(detail, testToken) || strings.Contains(detail, goodSig) {
		t.Errorf("error detail %q leaks the token or the expected signature", detail)
	}
}

func TestVerifyPresigned(t *testing.T) {
	presign := func(t *testing.T, srv *awsServer, creds aws.Credentials, hash string, expires string) (string, http.Header) {
		t.Helper()
		target := srv.URL + "/?Action=GetCallerIdentity&Version=2011-06-15"
		if expires != "" {
			target += "&X-Amz-Expires=" + expires
		}
		req, err := http.NewRequest("GET", target, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The header EKS tokens sign, naming the cluster.
		req.Header.Set("x-k8s-aws-id", "demo")
		u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hash, "sts", "us-east-1", signedAt)
		if err != nil {
			t.Fatalf("PresignHTTP: %v", err)
		}
		return u, hdr
	}
	get := func(t *testing.T, srv *awsServer, u string, hdr http.Header) outcome {
		t.Helper()
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		_, got := send(t, srv, req)
		return got
	}
	tests := []struct {
		name    string
		creds   aws.Credentials
		hash    string
		expires string
		now     time.Time
		edit    func(u string, hdr http.Header) string
		code    Kind
		message string
	}{
		{name: "session token, hashed empty payload", creds: tempCreds, hash: payloadHash(nil), expires: "60"},
		{name: "unsigned payload", creds: longTermCreds, hash: unsignedPayload, expires: "60"},
		{name: "no X-Amz-Expires, within the skew", creds: tempCreds, hash: payloadHash(nil), now: signedAt.Add(14 * time.Minute)},
		{name: "no X-Amz-Expires, beyond the skew", creds: tempCreds, hash: payloadHash(nil), now: signedAt.Add(16 * time.Minute), code: RequestExpired},
		{name: "at expiry", creds: tempCreds, hash: payloadHash(nil), expires: "60", now: signedAt.Add(60 * time.Second)},
		{name: "expired", creds: tempCreds, hash: payloadHash(nil), expires: "60", now: signedAt.Add(61 * time.Second), code: RequestExpired, message: "Request has expired"},
		{name: "long expiry outlives the skew", creds: tempCreds, hash: payloadHash(nil), expires: "3600", now: signedAt.Add(59 * time.Minute)},
		{name: "not yet valid", creds: tempCreds, hash: payloadHash(nil), expires: "60", now: signedAt.Add(-16 * time.Minute), code: RequestExpired, message: "Signature not yet current"},
		{
			name: "query parameter added", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, _ http.Header) string { return u + "&DurationSeconds=900" },
			code: SignatureMismatch,
		},
		{
			name: "expiry extended", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, _ http.Header) string {
				return strings.Replace(u, "X-Amz-Expires=60", "X-Amz-Expires=3600", 1)
			},
			code: SignatureMismatch,
		},
		{
			name: "signed header changed", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, hdr http.Header) string { hdr.Set("X-K8s-Aws-Id", "prod"); return u },
			code: SignatureMismatch,
		},
		{
			name: "token swapped", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, _ http.Header) string {
				return strings.Replace(u, "X-Amz-Security-Token="+url.QueryEscape(testToken), "X-Amz-Security-Token=other", 1)
			},
			code: UnrecognizedClient,
		},
		{
			name: "signature removed", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, _ http.Header) string { return u[:strings.Index(u, "&X-Amz-Signature=")] },
			code: IncompleteSignature, message: "'X-Amz-Signature'",
		},
		{
			name: "signature truncated", creds: tempCreds, hash: payloadHash(nil), expires: "60",
			edit: func(u string, _ http.Header) string { return u[:len(u)-1] },
			code: SignatureMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := tt.now
			if now.IsZero() {
				now = signedAt.Add(time.Second)
			}
			srv := newAWSServer(t, newVerifier(now))
			u, hdr := presign(t, srv, tt.creds, tt.hash, tt.expires)
			if tt.edit != nil {
				u = tt.edit(u, hdr)
			}
			got := get(t, srv, u, hdr)
			checkErr(t, got.Err, tt.code, tt.message)
			if got.Err != nil {
				return
			}
			want := &Result[string]{AccessKeyID: tt.creds.AccessKeyID, SessionToken: tt.creds.SessionToken, Region: "us-east-1", Service: "sts", SignedAt: signedAt,
				Caller: defaultKeys()[tt.creds.AccessKeyID].principal}
			if diff := cmp.Diff(want, got.Result); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A presigned URL whose signature does not cover the payload
// (UNSIGNED-PAYLOAD, as botocore presigns) carries no body: whoever holds
// the URL could otherwise send any parameters under its signature.
func TestPresignedUnsignedPayloadHasNoBody(t *testing.T) {
	srv := newAWSServer(t, newVerifier(signedAt.Add(time.Second)))
	const body = "Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/Admin"
	presignPOST := func(t *testing.T, hash string) string {
		t.Helper()
		req, err := http.NewRequest("POST", srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), tempCreds, req, hash, "sts", "us-east-1", signedAt)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	post := func(t *testing.T, u, body string, hdr http.Header) outcome {
		t.Helper()
		req, err := http.NewRequest("POST", u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		maps.Copy(req.Header, hdr)
		_, got := send(t, srv, req)
		return got
	}
	unsigned := presignPOST(t, unsignedPayload)
	if got := post(t, unsigned, "", nil); got.Err != nil {
		t.Errorf("UNSIGNED-PAYLOAD without a body: %v", got.Err)
	}
	checkErr(t, post(t, unsigned, body, nil).Err, SignatureMismatch, "")
	checkErr(t, post(t, unsigned, body, http.Header{"X-Amz-Content-Sha256": {unsignedPayload}}).Err, SignatureMismatch, "UNSIGNED-PAYLOAD is accepted only for requests without a body")
	// A presigned URL that signs its body's hash takes that body only.
	hashed := presignPOST(t, payloadHash([]byte(body)))
	if got := post(t, hashed, body, nil); got.Err != nil {
		t.Errorf("presigned with the body's hash: %v", got.Err)
	}
	checkErr(t, post(t, hashed, body+"&DurationSeconds=43200", nil).Err, SignatureMismatch, "")
}

// TestSDKClients drives the generated EKS and STS clients, with all their
// middleware, against the test server.
func TestSDKClients(t *testing.T) {
	ctx := context.Background()
	srv := newAWSServer(t, &Verifier[string]{Lookup: lookupFrom(defaultKeys())})
	eksClient := func(c aws.Credentials) *eks.Client {
		return eks.New(eks.Options{
			Region:           testRegion,
			Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
			BaseEndpoint:     aws.String(srv.URL),
			HTTPClient:       srv.Client(),
			RetryMaxAttempts: 1,
		})
	}
	stsClient := func(c aws.Credentials) *sts.Client {
		return sts.New(sts.Options{
			Region:           "us-east-1",
			Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
			BaseEndpoint:     aws.String(srv.URL),
			HTTPClient:       srv.Client(),
			RetryMaxAttempts: 1,
		})
	}

	if _, err := eksClient(tempCreds).ListClusters(ctx, &eks.ListClustersInput{}); err != nil {
		t.Errorf("ListClusters: %v", err)
	}
	tags, err := eksClient(tempCreds).ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(demoARN)})
	if err != nil {
		t.Errorf("ListTagsForResource: %v", err)
	} else if got := tags.Tags["resource"]; got != demoARN {
		t.Errorf("server saw resource %q, want %q", got, demoARN)
	}
	if _, err := eksClient(longTermCreds).ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("kube system"), MaxResults: aws.Int32(5),
	}); err != nil {
		t.Errorf("ListPodIdentityAssociations: %v", err)
	}
	id, err := stsClient(tempCreds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Errorf("GetCallerIdentity: %v", err)
	} else if got := aws.ToString(id.Arn); got != "arn:aws:iam::111122223333:assumed-role/demo" {
		t.Errorf("GetCallerIdentity Arn = %q", got)
	}
	pre, err := sts.NewPresignClient(stsClient(tempCreds)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("PresignGetCallerIdentity: %v", err)
	}
	req, _ := http.NewRequest(pre.Method, pre.URL, nil)
	for k, vs := range pre.SignedHeader {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	if status, got := send(t, srv, req); status != http.StatusOK {
		t.Errorf("presigned GetCallerIdentity: status %d, %v", status, got.Err)
	}
	for _, o := range srv.all() {
		if o.Err != nil {
			t.Errorf("%s request failed verification: %v", o.Service, o.Err)
		}
	}

	// A wrong secret surfaces in the SDK as the protocol's error code.
	wrong := tempCreds
	wrong.SecretAccessKey = "wrong"
	_, err = eksClient(wrong).ListClusters(ctx, &eks.ListClustersInput{})
	checkAPIError(t, err, "InvalidSignatureException")
	_, err = stsClient(wrong).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	checkAPIError(t, err, "SignatureDoesNotMatch")
	unknown := aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}
	_, err = eksClient(unknown).ListClusters(ctx, &eks.ListClustersInput{})
	checkAPIError(t, err, "UnrecognizedClientException")
	_, err = stsClient(unknown).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	checkAPIError(t, err, "InvalidClientTokenId")
}

func checkAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("error %v is not an API error, want %s", err, code)
		return
	}
	if apiErr.ErrorCode() != code {
		t.Errorf("API error code %q (%v), want %q", apiErr.ErrorCode(), err, code)
	}
}

// TestVerifyRotatedSecret checks that a cached signing key is not used
// after the key's secret changes.
func TestVerifyRotatedSecret(t *testing.T) {
	secret := "first"
	v := &Verifier[string]{
		Lookup: func(context.Context, string, string) (string, string, error) { return secret, "", nil },
		Now:    fixedClock(signedAt),
	}
	verify := func(signWith string) error {
		req, _ := http.NewRequest("GET", "https://eks.example/clusters", http.NoBody)
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: signWith}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash(nil), "eks", testRegion, signedAt); err != nil {
			t.Fatal(err)
		}
		r, body := wire(t, req)
		_, err := v.Verify(context.Background(), r, body, "eks")
		return err
	}
	if err := verify("first"); err != nil {
		t.Fatalf("first secret: %v", err)
	}
	secret = "second"
	if err := verify("first"); codeOf(t, err) != SignatureMismatch {
		t.Errorf("old secret after rotation: %v, want a mismatch", err)
	}
	if err := verify("second"); err != nil {
		t.Errorf("new secret after rotation: %v", err)
	}
}

// TestVerifyInProcess verifies a request that never went over the wire,
// as a handler test would build it: Content-Length lives only in
// r.ContentLength and RequestURI is empty.
func TestVerifyInProcess(t *testing.T) {
	body := []byte(`{"a":1}`)
	req, _ := http.NewRequest("POST", "https://eks.example/tags/"+demoARNEscaped+"?b=1", bytes.NewReader(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), longTermCreds, req, payloadHash(body), "eks", testRegion, signedAt); err != nil {
		t.Fatal(err)
	}
	res, err := newVerifier(signedAt).Verify(context.Background(), req, body, "eks")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(&Result[string]{AccessKeyID: testAKID, Region: testRegion, Service: "eks", SignedAt: signedAt, Caller: "user/example"}, res, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Result mismatch (-want +got):\n%s", diff)
	}
}
