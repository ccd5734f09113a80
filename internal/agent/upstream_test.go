package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
)

// fakeEKSAuth is EKS Auth on the wire: it records what the real SDK sends
// and answers with status, headers and body from answer.
type fakeEKSAuth struct {
	mu     sync.Mutex
	seen   []*http.Request
	bodies []map[string]any
	answer func(w http.ResponseWriter)
}

func (f *fakeEKSAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	f.mu.Lock()
	f.seen, f.bodies = append(f.seen, r), append(f.bodies, body)
	f.mu.Unlock()
	f.answer(w)
}

func newEKSAuthClient(url string) Upstream {
	return NewEKSAuth(EKSAuthConfig{
		AWS: aws.Config{
			Region:      "us-west-2",
			Credentials: credentials.NewStaticCredentialsProvider("AKIANODE000000000000", "node-secret", ""),
		},
		ClusterName: "demo",
		Endpoint:    url,
	})
}

const assumeOK = `{
  "subject": {"namespace": "default", "serviceAccount": "app"},
  "audience": "pods.eks.amazonaws.com",
  "podIdentityAssociation": {"associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-abc", "associationId": "a-abc"},
  "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/app/eks-demo-web-0-1234", "assumeRoleId": "AROAEXAMPLE:eks-demo-web-0-1234"},
  "credentials": {"sessionToken": "st", "secretAccessKey": "sk", "accessKeyId": "ASIAEXAMPLE", "expiration": 1924992000}
}`

func TestEKSAuthSuccess(t *testing.T) {
	fake := &fakeEKSAuth{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, assumeOK)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	got, err := newEKSAuthClient(srv.URL).AssumeRoleForPodIdentity(context.Background(), "the-token")
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{
		AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "sk", SessionToken: "st", AccountID: "111122223333",
		Expiration: time.Unix(1924992000, 0).UTC(), RoleARN: "arn:aws:sts::111122223333:assumed-role/app/eks-demo-web-0-1234",
		AssociationID: "a-abc",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	r := fake.seen[0]
	if r.Method != "POST" || r.URL.Path != "/clusters/demo/assume-role-for-pod-identity" {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIANODE000000000000/") ||
		!strings.Contains(a, "/us-west-2/eks-auth/aws4_request") {
		t.Errorf("not signed with the node's key for eks-auth: %q", a)
	}
	if fake.bodies[0]["token"] != "the-token" {
		t.Errorf("body %v does not carry the token", fake.bodies[0])
	}
}

func TestEKSAuthErrors(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		errType, body string
		want          UpstreamError
		irrecoverable bool
		retryable     bool
	}{
		{"not found", 404, "ResourceNotFoundException", `{"message":"No association"}`,
			UpstreamError{Status: 404, Code: "ResourceNotFoundException", Message: "No association", RequestID: "req-1"}, true, false},
		{"invalid token", 400, "InvalidTokenException", `{"message":"bad"}`,
			UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "bad", RequestID: "req-1"}, true, false},
		{"expired token", 400, "ExpiredTokenException", `{"message":"old"}`,
			UpstreamError{Status: 400, Code: "ExpiredTokenException", Message: "old", RequestID: "req-1"}, true, false},
		{"access denied", 400, "AccessDeniedException", `{"message":"no"}`,
			UpstreamError{Status: 400, Code: "AccessDeniedException", Message: "no", RequestID: "req-1"}, true, false},
		// 403s are about the node's credentials, never the pod's token.
		{"node not allowed", 403, "AccessDeniedException", `{"message":"not authorized to perform: eks-auth:AssumeRoleForPodIdentity"}`,
			UpstreamError{Status: 403, Code: "AccessDeniedException", Message: "not authorized to perform: eks-auth:AssumeRoleForPodIdentity", RequestID: "req-1"}, false, false},
		{"node session expired", 403, "ExpiredTokenException", `{"message":"The security token included in the request is expired"}`,
			UpstreamError{Status: 403, Code: "ExpiredTokenException", Message: "The security token included in the request is expired", RequestID: "req-1"}, false, false},
		{"invalid parameter", 400, "InvalidParameterException", `{"message":"p"}`,
			UpstreamError{Status: 400, Code: "InvalidParameterException", Message: "p", RequestID: "req-1"}, false, false},
		{"throttled", 429, "ThrottlingException", `{"message":"Rate exceeded"}`,
			UpstreamError{Status: 429, Code: "ThrottlingException", Message: "Rate exceeded", RequestID: "req-1"}, false, true},
		{"internal", 500, "InternalServerException", `{"message":"oops"}`,
			UpstreamError{Status: 500, Code: "InternalServerException", Message: "oops", RequestID: "req-1"}, false, true},
		{"unavailable", 503, "ServiceUnavailableException", `{"message":"later"}`,
			UpstreamError{Status: 503, Code: "ServiceUnavailableException", Message: "later", RequestID: "req-1"}, false, true},
		{"unknown signing key", 403, "UnrecognizedClientException", `{"message":"The security token included in the request is invalid."}`,
			UpstreamError{Status: 403, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", RequestID: "req-1"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeEKSAuth{answer: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amzn-ErrorType", tt.errType)
				w.Header().Set("X-Amzn-RequestId", "req-1")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}})
			defer srv.Close()
			_, err := newEKSAuthClient(srv.URL).AssumeRoleForPodIdentity(context.Background(), "tok")
			ue := asUpstreamError(err)
			if ue == nil {
				t.Fatalf("error %v is not an UpstreamError", err)
			}
			got := *ue
			got.Err = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if ue.irrecoverable() != tt.irrecoverable || ue.retryable() != tt.retryable {
				t.Errorf("irrecoverable, retryable = %v, %v; want %v, %v", ue.irrecoverable(), ue.retryable(), tt.irrecoverable, tt.retryable)
			}
		})
	}
}

func TestEKSAuthNoAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	_, err := newEKSAuthClient(url).AssumeRoleForPodIdentity(context.Background(), "tok")
	ue := asUpstreamError(err)
	if ue == nil || ue.Status != 0 || !ue.retryable() {
		t.Errorf("error %#v, want a retryable UpstreamError without status", err)
	}
}

func TestEKSAuthMalformedAnswer(t *testing.T) {
	srv := httptest.NewServer(&fakeEKSAuth{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(assumeOK, "arn:aws:sts::111122223333:assumed-role", "not-an-arn", 1))
	}})
	defer srv.Close()
	if _, err := newEKSAuthClient(srv.URL).AssumeRoleForPodIdentity(context.Background(), "tok"); err == nil ||
		!strings.Contains(err.Error(), "does not parse") {
		t.Errorf("error %v, want the ARN refused", err)
	}
}

// The node's name, instance and zone travel as eksNodeName, instanceId and
// zone, as newer AWS agents send them, next to the members the client
// serializes itself; unknown ones are left out.
func TestEKSAuthSendsNodeName(t *testing.T) {
	fake := &fakeEKSAuth{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, assumeOK)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	up := NewEKSAuth(EKSAuthConfig{
		AWS: aws.Config{Region: "us-west-2",
			Credentials: credentials.NewStaticCredentialsProvider("AKIANODE000000000000", "node-secret", "")},
		ClusterName: "demo", Endpoint: srv.URL, NodeName: "ip-10-0-0-7",
	})
	if _, err := up.AssumeRoleForPodIdentity(context.Background(), "the-token"); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"token": "the-token", "eksNodeName": "ip-10-0-0-7"}
	if diff := cmp.Diff(want, fake.bodies[0]); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if cl := fake.seen[0].ContentLength; cl <= 0 {
		t.Errorf("Content-Length %d after the body grew", cl)
	}

	up = NewEKSAuth(EKSAuthConfig{
		AWS: aws.Config{Region: "us-west-2",
			Credentials: credentials.NewStaticCredentialsProvider("AKIANODE000000000000", "node-secret", "")},
		ClusterName: "demo", Endpoint: srv.URL, NodeName: "ip-10-0-0-7", InstanceID: "i-0123456789abcdef0", Zone: "us-west-2a",
	})
	if _, err := up.AssumeRoleForPodIdentity(context.Background(), "the-token"); err != nil {
		t.Fatal(err)
	}
	want["instanceId"], want["zone"] = "i-0123456789abcdef0", "us-west-2a"
	if diff := cmp.Diff(want, fake.bodies[1]); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// The sidecar's calls carry no signature and need no region or node
// credentials: the pod's token in the body is the whole proof.
func TestEKSAuthUnsigned(t *testing.T) {
	fake := &fakeEKSAuth{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, assumeOK)
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	up := NewEKSAuth(EKSAuthConfig{ClusterName: "demo", Endpoint: srv.URL, Unsigned: true})
	if _, err := up.AssumeRoleForPodIdentity(context.Background(), "the-token"); err != nil {
		t.Fatal(err)
	}
	r := fake.seen[0]
	for _, h := range []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("unsigned call has %s: %q", h, v)
		}
	}
	if r.URL.RawQuery != "" || fake.bodies[0]["token"] != "the-token" {
		t.Errorf("query %q, body %v", r.URL.RawQuery, fake.bodies[0])
	}
}
