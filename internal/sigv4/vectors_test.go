package sigv4

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAWSTestSuiteVectors verifies requests from AWS's published SigV4 test
// suite (service "service", region us-east-1, 2015-08-30T12:36:00Z). They
// were signed by AWS, not by any code in this repository, so they pin the
// canonicalisation independently of the SDKs the other tests use.
func TestAWSTestSuiteVectors(t *testing.T) {
	const scope = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
	tests := []struct {
		name string
		raw  string
	}{
		{
			name: "get-vanilla",
			raw: "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\r\n\r\n",
		},
		{
			name: "get-vanilla-query-order-key-case",
			raw: "GET /?Param2=value2&Param1=value1 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\r\n\r\n",
		},
		{
			name: "get-vanilla-utf8-query",
			raw: "GET /?%E1%88%B4=bar HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04\r\n\r\n",
		},
		{
			name: "get-vanilla-empty-query-key",
			raw: "GET /?Param1=value1 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb\r\n\r\n",
		},
		{
			name: "get-header-value-trim",
			raw: "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: value1\r\nMy-Header2: \"a   b   c\"\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736\r\n\r\n",
		},
		{
			name: "post-vanilla",
			raw: "POST / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b\r\n\r\n",
		},
		{
			name: "post-header-key-sort",
			raw: "POST / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: value1\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c\r\n\r\n",
		},
		{
			name: "post-x-www-form-urlencoded",
			raw: "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\nContent-Length: 13\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a\r\n\r\nParam1=value1",
		},
		// The suite's normalize-path cases: AWS signs the path with dot
		// segments and repeated slashes removed, so these carry the
		// signature of get-vanilla. (The Go SDK signs the path as sent.)
		{
			name: "get-relative-relative",
			raw: "GET /example1/example2/../.. HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\r\n\r\n",
		},
		{
			name: "get-slashes",
			raw: "GET // HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := readRequest(t, tt.raw)
			v := &Verifier[string]{
				Lookup: lookupFrom(defaultKeys()),
				Now:    fixedClock(time.Date(2015, 8, 30, 12, 40, 0, 0, time.UTC)),
			}
			res, err := v.Verify(context.Background(), r, body, "service")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.AccessKeyID != testAKID || res.Region != "us-east-1" || res.Service != "service" || res.Caller != "user/example" {
				t.Errorf("Verify = %+v", res)
			}
			// One flipped hex digit of the signature must fail.
			r.Header.Set("Authorization", flipLastHex(r.Header.Get("Authorization")))
			if _, err := v.Verify(context.Background(), r, body, "service"); codeOf(t, err) != SignatureMismatch {
				t.Errorf("Verify with a flipped signature = %v, want signature_mismatch", err)
			}
		})
	}
}

func flipLastHex(s string) string {
	i := strings.LastIndexAny(s, "0123456789abcdef")
	c := byte('0')
	if s[i] == '0' {
		c = '1'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestVerifyRawRequests covers requests no SDK would produce, written out
// as the bytes a client could send.
func TestVerifyRawRequests(t *testing.T) {
	const authz = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231102/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + goodSig + "\r\n"
	const presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20231102%2Fus-west-2%2Feks%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=" + goodSig
	tests := []struct {
		name    string
		raw     string
		code    Kind
		message string
	}{
		{name: "nothing", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\n\r\n", code: MissingAuth, message: "Request is missing Authentication Token"},
		{name: "empty authorization", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nAuthorization: \r\n\r\n", code: MissingAuth},
		{name: "bad query without auth", raw: "GET /clusters?a=%zz HTTP/1.1\r\nHost: h\r\n\r\n", code: MissingAuth},
		{name: "bad query with auth", raw: "GET /clusters?a=%zz HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20231102T000000Z\r\n" + authz + "\r\n", code: IncompleteSignature, message: "percent-encoded"},
		{name: "two authorization headers", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20231102T000000Z\r\n" + authz + authz + "\r\n", code: IncompleteSignature, message: "Only one Authorization header"},
		{name: "no date", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\n" + authz + "\r\n", code: IncompleteSignature, message: "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{name: "malformed date", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 2023-11-02T00:00:00Z\r\n" + authz + "\r\n", code: IncompleteSignature, message: "ISO-8601 'basic format'"},
		{name: "two session tokens", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20231102T000000Z\r\nX-Amz-Security-Token: a\r\nX-Amz-Security-Token: b\r\n" + authz + "\r\n", code: IncompleteSignature},
		{name: "two content hashes", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20231102T000000Z\r\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n" + authz + "\r\n", code: IncompleteSignature},
		{name: "malformed signature", raw: "GET /clusters HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20231102T000000Z\r\n" + strings.Replace(authz, goodSig, "xyz", 1) + "\r\n", code: SignatureMismatch, message: msgSignatureMismatch},
		{name: "presigned without date", raw: "GET /?" + presigned + " HTTP/1.1\r\nHost: h\r\n\r\n", code: IncompleteSignature, message: "must include 'X-Amz-Date'"},
		{name: "presigned with malformed date", raw: "GET /?" + presigned + "&X-Amz-Date=yesterday HTTP/1.1\r\nHost: h\r\n\r\n", code: IncompleteSignature, message: "Got 'yesterday'"},
		{name: "presigned, signature only", raw: "GET /?X-Amz-Signature=" + goodSig + " HTTP/1.1\r\nHost: h\r\n\r\n", code: IncompleteSignature, message: "must include 'X-Amz-Algorithm'"},
		{name: "presigned with wrong signature", raw: "GET /?" + presigned + "&X-Amz-Date=20231102T000000Z HTTP/1.1\r\nHost: h\r\n\r\n", code: SignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := readRequest(t, tt.raw)
			_, err := newVerifier(signedAt).Verify(context.Background(), r, body, "eks")
			checkErr(t, err, tt.code, tt.message)
		})
	}

	t.Run("no lookup", func(t *testing.T) {
		r, body := readRequest(t, "GET /clusters HTTP/1.1\r\nHost: h\r\n\r\n")
		_, err := (&Verifier[string]{}).Verify(context.Background(), r, body, "eks")
		checkErr(t, err, notRefused, "")
	})
}
