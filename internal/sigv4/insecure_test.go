package sigv4

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptySHA256 is the payload hash of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestInsecureAcceptUnknownKeys(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	known := func(_ context.Context, id, _ string) (string, string, error) {
		if id == "AKIAKNOWN" {
			return "known-secret", "known", nil
		}
		return "", "", nil
	}
	v := &Verifier[string]{Lookup: known, Now: func() time.Time { return now }, InsecureAcceptUnknownKeys: func(id string) string { return "dev:" + id }}
	sign := func(id, secret, token string) *Result[string] {
		t.Helper()
		r := httptest.NewRequest("GET", "http://127.0.0.1/clusters", nil)
		creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, emptySHA256, "eks", "us-west-2", now); err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(context.Background(), r, nil, "eks")
		if err != nil {
			if token != "" && KindOf(err) == UnrecognizedClient {
				return nil
			}
			t.Fatalf("Verify(%s): %v", id, err)
		}
		return res
	}
	if res := sign("AKIAANYTHING", "whatever", ""); res.Caller != "dev:AKIAANYTHING" {
		t.Errorf("unknown key in dev mode: principal %v", res.Caller)
	}
	// A known key is still checked: a wrong secret fails.
	r := httptest.NewRequest("GET", "http://127.0.0.1/clusters", nil)
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAKNOWN", SecretAccessKey: "wrong"}, r, emptySHA256, "eks", "us-west-2", now)
	if _, err := v.Verify(context.Background(), r, nil, "eks"); KindOf(err) != SignatureMismatch {
		t.Errorf("known key with a wrong secret in dev mode: %v, want a signature mismatch", err)
	}
	// Session credentials are never waved through.
	if res := sign("ASIAUNKNOWN", "x", "some-session-token"); res != nil {
		t.Errorf("unknown session credentials accepted: %+v", res)
	}
	// Without the switch, unknown keys are refused.
	v.InsecureAcceptUnknownKeys = nil
	r = httptest.NewRequest("GET", "http://127.0.0.1/clusters", strings.NewReader(""))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAANYTHING", SecretAccessKey: "x"}, r, emptySHA256, "eks", "us-west-2", now)
	if _, err := v.Verify(context.Background(), r, nil, "eks"); KindOf(err) != UnrecognizedClient {
		t.Errorf("unknown key without dev mode: %v", err)
	}
}
