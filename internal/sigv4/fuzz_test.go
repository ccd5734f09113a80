package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// fuzzTime is the clock of both fuzz targets; the committed seeds under
// testdata/fuzz are signed at this time so that they verify.
var fuzzTime = time.Date(2023, 11, 2, 0, 0, 0, 0, time.UTC)

// FuzzVerify feeds arbitrary HTTP requests, parsed as http.Server would
// parse them, to Verify. Whatever the input, Verify must not panic and must
// fail only with the client errors it documents.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	known := map[Kind]bool{
		MissingAuth:         true,
		IncompleteSignature: true,
		UnrecognizedClient:  true,
		SignatureMismatch:   true,
		RequestExpired:      true,
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		v := &Verifier[string]{Lookup: lookupFrom(defaultKeys()), Now: fixedClock(fuzzTime)}
		for _, service := range []string{"eks", "eks-auth", "sts"} {
			res, err := v.Verify(context.Background(), r, body, service)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || !known[e.Kind] {
					t.Fatalf("Verify error %v (%T) is not a documented client error", err, err)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testToken) {
					t.Fatalf("Verify error %q leaks a secret", err)
				}
				continue
			}
			if _, ok := defaultKeys()[res.AccessKeyID]; !ok || res.Service != service {
				t.Fatalf("Verify accepted %+v", res)
			}
		}
	})
}

// FuzzSignVerify is differential: whatever request aws-sdk-go-v2 signs,
// header or presigned, Verify must accept once it has crossed the wire.
func FuzzSignVerify(f *testing.F) {
	f.Add("GET", "tags/"+demoARN, "maxResults", "10", "X-Custom", "  a  b ", []byte(nil), "", false)
	f.Add("POST", "clusters/demo/pod-identity-associations", "a b", "c/d+e", "x-lower", "v", []byte(`{"a":1}`), testToken, false)
	f.Add("GET", "", "Action", "GetCallerIdentity", "x-k8s-aws-id", "demo", []byte(nil), testToken, true)
	f.Fuzz(func(t *testing.T, method, path, qkey, qval, hname, hval string, body []byte, token string, presign bool) {
		if !isToken(method) || method == "" || method == http.MethodConnect {
			return
		}
		if !isToken(hname) || hname == "" || isSpecialHeader(hname) || !validFieldValue(hval) || !validFieldValue(token) {
			return
		}
		u := &url.URL{Scheme: "http", Host: "eks.example:8080", Path: "/" + path}
		if qkey != "" {
			u.RawQuery = url.Values{qkey: {qval}}.Encode()
		}
		req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header[hname] = []string{hval}
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: token}
		service := "eks"
		signer := v4.NewSigner()
		if presign {
			service = "sts"
			signed, hdr, err := signer.PresignHTTP(context.Background(), creds, req, payloadHash(body), service, testRegion, fuzzTime)
			if err != nil {
				t.Fatalf("PresignHTTP: %v", err)
			}
			if req, err = http.NewRequest(method, signed, bytes.NewReader(body)); err != nil {
				t.Fatalf("presigned URL %q: %v", signed, err)
			}
			for k, vs := range hdr {
				if k != "Host" {
					req.Header[k] = vs
				}
			}
		} else if err := signer.SignHTTP(context.Background(), creds, req, payloadHash(body), service, testRegion, fuzzTime); err != nil {
			t.Fatalf("SignHTTP: %v", err)
		}
		var buf bytes.Buffer
		if err := req.Write(&buf); err != nil {
			return
		}
		wireBytes := buf.String()
		r, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			return // the Go client wrote something the server refuses
		}
		got, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		anyToken := func(_ context.Context, akid, _ string) (string, string, error) {
			if akid != testAKID {
				return "", "", nil
			}
			return testSecret, "", nil
		}
		v := &Verifier[string]{Lookup: anyToken, Now: fixedClock(fuzzTime)}
		res, err := v.Verify(context.Background(), r, got, service)
		if err != nil {
			t.Fatalf("Verify rejected an SDK-signed request: %v\nrequest:\n%q", err, wireBytes)
		}
		wantToken := token
		if !presign {
			wantToken = strings.Trim(token, " \t") // as http.Server trims header values
		}
		if res.AccessKeyID != testAKID || res.SessionToken != wantToken {
			t.Errorf("Verify = %+v, want token %q", res, wantToken)
		}
	})
}

// isSpecialHeader reports headers that the Go client or server handle
// themselves (framing, hop-by-hop) or that the signer sets, which a
// differential test cannot meaningfully set to arbitrary values.
func isSpecialHeader(name string) bool {
	for _, s := range []string{
		"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade",
		"Expect", "User-Agent", "Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256",
		"Date", "Proxy-Authorization", "Proxy-Connection",
	} {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return strings.HasPrefix(strings.ToLower(name), "x-amz-")
}

// validFieldValue reports whether an HTTP field value can cross the wire
// unchanged: no control characters but tab.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
