package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// presignSTS presigns a POST to the STS endpoint the way botocore does,
// leaving the payload unsigned, with params in the URL.
func presignSTS(t *testing.T, base, params string) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/?"+params, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret},
		req, "UNSIGNED-PAYLOAD", "sts", "us-west-2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func postForm(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	_ = xml.Unmarshal(b, &doc)
	return resp.StatusCode, doc.Error.Code
}

// Every body the server accepts is signed: a presigned URL that leaves the
// payload unsigned takes no body, and no parameter may be both in the
// signed URL and in the body.
func TestSTSPresignedBody(t *testing.T) {
	e := newEnv(t)
	u := presignSTS(t, e.url, "Action=GetCallerIdentity&Version=2011-06-15")
	if status, code := postForm(t, u, ""); status != 200 {
		t.Errorf("presigned POST without a body: %d %s", status, code)
	}
	if status, code := postForm(t, u, "Action=GetCallerIdentity&Version=2011-06-15"); status != 403 || code != "SignatureDoesNotMatch" {
		t.Errorf("presigned UNSIGNED-PAYLOAD POST with a body: %d %s, want 403 SignatureDoesNotMatch", status, code)
	}
	// Signed the body's hash: the body is covered, but a parameter in both
	// places is still ambiguous.
	body := "Action=GetCallerIdentity"
	req, _ := http.NewRequest("POST", e.url+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret},
		req, sha256Hex(body), "sts", "us-west-2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, code := postForm(t, signed, body); status != 400 || code != "InvalidParameterValue" {
		t.Errorf("Action in the URL and the body: %d %s, want 400 InvalidParameterValue", status, code)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
