package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// benchRequest is a typical EKS Auth call as the server receives it:
// header-signed with a session token and a JSON body.
func benchRequest(b testing.TB) (*http.Request, []byte) {
	body := []byte(`{"token":"eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJodHRwczovL2V4YW1wbGUifQ.c2lnbmF0dXJl"}`)
	req, _ := http.NewRequest("POST", "https://eks-auth.us-west-2.api.aws/clusters/demo/assume-role-identity", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 os/linux lang/go#1.26 api/eksauth#1.1.0")
	req.Header.Set("Amz-Sdk-Invocation-Id", "3f1c6e2a-6a0e-4d4b-9a55-1b1d5f6c7e8f")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	if err := v4.NewSigner().SignHTTP(context.Background(), tempCreds, req, payloadHash(body), "eks-auth", testRegion, signedAt); err != nil {
		b.Fatal(err)
	}
	return wire(b, req)
}

func BenchmarkVerify(b *testing.B) {
	r, body := benchRequest(b)
	v := newVerifier(signedAt)
	ctx := context.Background()
	if _, err := v.Verify(ctx, r, body, "eks-auth"); err != nil { // warms the key cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, r, body, "eks-auth"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	r, body := benchRequest(b)
	v := newVerifier(signedAt)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, r, body, "eks-auth"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyPresigned(b *testing.B) {
	req, _ := http.NewRequest("GET", "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil)
	req.Header.Set("x-k8s-aws-id", "demo")
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), tempCreds, req, unsignedPayload, "sts", testRegion, signedAt)
	if err != nil {
		b.Fatal(err)
	}
	req, _ = http.NewRequest("GET", u, nil)
	for k, vs := range hdr {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	r, body := wire(b, req)
	v := newVerifier(signedAt)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, r, body, "sts"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveKey is what every Verify would pay without the cache.
func BenchmarkDeriveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		deriveKey(testSecret, "20231102", testRegion, "eks-auth")
	}
}
