package sigv4

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const goodSig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

func TestParseAuthorization(t *testing.T) {
	const cred = "AKIDEXAMPLE/20231102/us-west-2/eks/aws4_request"
	want := authorization{
		cred: credential{
			raw:         cred,
			accessKeyID: "AKIDEXAMPLE",
			date:        "20231102",
			region:      "us-west-2",
			service:     "eks",
			scope:       "20231102/us-west-2/eks/aws4_request",
		},
		signedHeaders: "host;x-amz-date",
		signature:     goodSig,
	}
	tests := []struct {
		name    string
		header  string
		want    authorization
		code    Kind
		message string // a substring of the error message
	}{
		{name: "go sdk and botocore form", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=" + goodSig, want: want},
		{name: "no spaces after commas", header: "AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host;x-amz-date,Signature=" + goodSig, want: want},
		{name: "other order and extra spaces", header: "  AWS4-HMAC-SHA256 Signature=" + goodSig + " ,  Credential=" + cred + " , SignedHeaders=host;x-amz-date  ", want: want},
		{name: "unknown parameters are ignored", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", Foo=bar, SignedHeaders=host;x-amz-date, Signature=" + goodSig, want: want},
		{name: "empty parts are ignored", header: "AWS4-HMAC-SHA256 Credential=" + cred + ",, SignedHeaders=host;x-amz-date, Signature=" + goodSig + ",", want: want},
		{
			name:   "upper-case host in signed headers",
			header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=Host;x-amz-date, Signature=" + goodSig,
			want:   authorization{cred: want.cred, signedHeaders: "Host;x-amz-date", signature: goodSig},
		},
		{
			name:   "signature is kept as sent even if malformed",
			header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=zz",
			want:   authorization{cred: want.cred, signedHeaders: "host", signature: "zz"},
		},

		{name: "empty", header: "", code: IncompleteSignature, message: "must use the AWS4-HMAC-SHA256 algorithm"},
		{name: "bearer token", header: "Bearer secret-token-value", code: IncompleteSignature, message: "must use the AWS4-HMAC-SHA256 algorithm"},
		{name: "sigv2", header: "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", code: IncompleteSignature, message: "AWS4-HMAC-SHA256"},
		{name: "sigv4a", header: "AWS4-ECDSA-P256-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "AWS4-HMAC-SHA256"},
		{name: "lower-case algorithm", header: "aws4-hmac-sha256 Credential=" + cred + ", SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature},
		{name: "algorithm only", header: "AWS4-HMAC-SHA256", code: IncompleteSignature, message: "requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{name: "missing credential", header: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "Authorization header requires 'Credential' parameter."},
		{name: "missing signature", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host", code: IncompleteSignature, message: "Authorization header requires 'Signature' parameter."},
		{name: "missing signed headers", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", Signature=" + goodSig, code: IncompleteSignature, message: "Authorization header requires 'SignedHeaders' parameter."},
		{name: "duplicate credential", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", Credential=" + cred + ", SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "more than one 'Credential'"},
		{name: "pair without equals", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders, Signature=" + goodSig, code: IncompleteSignature, message: "'SignedHeaders' not a valid key=value pair (missing equal-sign)"},
		{name: "space separated", header: "AWS4-HMAC-SHA256 Credential=" + cred + " SignedHeaders=host Signature=" + goodSig, code: IncompleteSignature},
		{name: "credential with four parts", header: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231102/us-west-2/eks, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20231102/us-west-2/eks'"},
		{name: "credential with six parts", header: "AWS4-HMAC-SHA256 Credential=AKID/EXAMPLE/20231102/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "exactly 5 slash-delimited elements"},
		{name: "credential with empty key id", header: "AWS4-HMAC-SHA256 Credential=/20231102/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "exactly 5 slash-delimited elements"},
		{name: "credential with empty region", header: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231102//eks/aws4_request, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature},
		{name: "credential with bad terminator", header: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231102/us-west-2/eks/aws5_request, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "empty credential", header: "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature},
		{name: "host not signed", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=x-amz-date, Signature=" + goodSig, code: IncompleteSignature, message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "empty signed headers", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=, Signature=" + goodSig, code: IncompleteSignature},
		{name: "empty header name", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + goodSig, code: IncompleteSignature},
		{name: "trailing semicolon", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;, Signature=" + goodSig, code: IncompleteSignature},
		{name: "header name with space", header: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x amz, Signature=" + goodSig, code: IncompleteSignature},
		{name: "control characters are not echoed", header: "AWS4-HMAC-SHA256 Credential=AKID\x01/x, SignedHeaders=host, Signature=" + goodSig, code: IncompleteSignature, message: "got 'AKID?/x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthorization(tt.header)
			checkErr(t, err, tt.code, tt.message)
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(authorization{}, credential{})); diff != "" {
				t.Errorf("parseAuthorization mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePresigned(t *testing.T) {
	base := map[string]string{
		queryAlgorithm:     algorithm,
		queryCredential:    "AKIDEXAMPLE/20231102/us-west-2/sts/aws4_request",
		queryDate:          "20231102T000000Z",
		queryExpires:       "60",
		querySignedHeaders: "host",
		querySignature:     goodSig,
	}
	with := func(k, v string) queryParams {
		var q queryParams
		for name, val := range base {
			if name == k {
				if v == "<absent>" {
					continue
				}
				val = v
			}
			q = append(q, queryParam{name, val})
		}
		return q
	}
	tests := []struct {
		name    string
		q       queryParams
		expires time.Duration
		code    Kind
		message string
	}{
		{name: "good", q: with("", ""), expires: time.Minute},
		{name: "no expiry", q: with(queryExpires, "<absent>")},
		{name: "zero expiry", q: with(queryExpires, "0"), code: IncompleteSignature, message: "X-Amz-Expires should be a positive number"},
		{name: "duplicate expiry", q: append(with("", ""), queryParam{queryExpires, "60"}), code: IncompleteSignature, message: "'X-Amz-Expires' must appear only once"},
		{name: "a week", q: with(queryExpires, "604800"), expires: 7 * 24 * time.Hour},
		{name: "more than a week", q: with(queryExpires, "604801"), code: IncompleteSignature, message: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "negative expiry", q: with(queryExpires, "-1"), code: IncompleteSignature, message: "X-Amz-Expires should be a positive number"},
		{name: "non-numeric expiry", q: with(queryExpires, "1m"), code: IncompleteSignature, message: "X-Amz-Expires should be a positive number"},
		{name: "huge expiry", q: with(queryExpires, "99999999999999999999999"), code: IncompleteSignature},
		{name: "missing credential", q: with(queryCredential, "<absent>"), code: IncompleteSignature, message: "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters."},
		{name: "missing signature", q: with(querySignature, "<absent>"), code: IncompleteSignature, message: "'X-Amz-Signature'"},
		{name: "missing date", q: with(queryDate, "<absent>"), code: IncompleteSignature, message: "'X-Amz-Date'"},
		{name: "missing signed headers", q: with(querySignedHeaders, "<absent>"), code: IncompleteSignature, message: "'X-Amz-SignedHeaders'"},
		{name: "missing algorithm", q: with(queryAlgorithm, "<absent>"), code: IncompleteSignature, message: "'X-Amz-Algorithm'"},
		{name: "wrong algorithm", q: with(queryAlgorithm, "AWS4-HMAC-SHA1"), code: IncompleteSignature, message: `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`},
		{name: "duplicate date", q: append(with("", ""), queryParam{queryDate, "20231102T000001Z"}), code: IncompleteSignature, message: "'X-Amz-Date' must appear only once"},
		{name: "bad credential", q: with(queryCredential, "AKIDEXAMPLE/20231102/us-west-2/sts"), code: IncompleteSignature, message: "5 slash-delimited"},
		{name: "host not signed", q: with(querySignedHeaders, "x-k8s-aws-id"), code: IncompleteSignature, message: "'Host'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, date, expires, err := parsePresigned(tt.q)
			checkErr(t, err, tt.code, tt.message)
			if err != nil {
				return
			}
			if auth.cred.service != "sts" || auth.signature != goodSig || auth.signedHeaders != "host" {
				t.Errorf("parsePresigned auth = %+v", auth)
			}
			if date != base[queryDate] || expires != tt.expires {
				t.Errorf("parsePresigned date, expires = %q, %v; want %q, %v", date, expires, base[queryDate], tt.expires)
			}
		})
	}
}

func TestParseAmzDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: error
	}{
		{"20231102T000000Z", time.Date(2023, 11, 2, 0, 0, 0, 0, time.UTC)},
		{"20991231T235959Z", time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"", time.Time{}},
		{"20231102T000000", time.Time{}},
		{"20231102T000000z", time.Time{}},
		{"2023-11-02T00:00:00Z", time.Time{}},
		{"20231302T000000Z", time.Time{}},
		{"20231132T000000Z", time.Time{}},
		{"20231102T250000Z", time.Time{}},
		{"20231102T000060Z", time.Time{}},
		{"20231102T000000Z ", time.Time{}},
		{"2023110T2000000Z", time.Time{}},
		{"Thu, 02 Nov 2023 00:00:00 GMT", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseAmzDate(tt.in)
		if tt.want.IsZero() {
			checkErr(t, err, IncompleteSignature, "Date must be in ISO-8601 'basic format'.")
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseAmzDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestHeaderDate(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		amzDate string
		code    Kind
		message string
	}{
		{name: "x-amz-date", h: http.Header{"X-Amz-Date": {"20231102T030405Z"}}, amzDate: "20231102T030405Z"},
		{name: "x-amz-date wins over date", h: http.Header{"X-Amz-Date": {"20231102T030405Z"}, "Date": {"Fri, 03 Nov 2023 00:00:00 GMT"}}, amzDate: "20231102T030405Z"},
		{name: "http date", h: http.Header{"Date": {"Thu, 02 Nov 2023 03:04:05 GMT"}}, amzDate: "20231102T030405Z"},
		{name: "botocore's rfc 2822 date", h: http.Header{"Date": {"Thu, 02 Nov 2023 03:04:05 -0000"}}, amzDate: "20231102T030405Z"},
		{name: "numeric zone", h: http.Header{"Date": {"Thu, 02 Nov 2023 05:04:05 +0200"}}, amzDate: "20231102T030405Z"},
		{name: "rfc 850 date", h: http.Header{"Date": {"Thursday, 02-Nov-23 03:04:05 GMT"}}, amzDate: "20231102T030405Z"},
		{name: "neither", h: http.Header{}, code: IncompleteSignature, message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{name: "bad x-amz-date", h: http.Header{"X-Amz-Date": {"yesterday"}}, code: IncompleteSignature, message: "Got 'yesterday'"},
		{name: "bad date", h: http.Header{"Date": {"yesterday"}}, code: IncompleteSignature},
		{name: "two x-amz-dates", h: http.Header{"X-Amz-Date": {"20231102T030405Z", "20231102T030406Z"}}, code: IncompleteSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			amzDate, at, err := headerDate(tt.h)
			checkErr(t, err, tt.code, tt.message)
			if err != nil {
				return
			}
			if amzDate != tt.amzDate || at.Format(amzDateLayout) != tt.amzDate {
				t.Errorf("headerDate = %q, %v; want %q", amzDate, at, tt.amzDate)
			}
		})
	}
}

func TestDecodeSignature(t *testing.T) {
	for _, s := range []string{goodSig, strings.ToUpper(goodSig)} {
		if _, ok := decodeSignature(s); !ok {
			t.Errorf("decodeSignature(%q) failed", s)
		}
	}
	for _, s := range []string{"", goodSig[:63], goodSig + "0", "g" + goodSig[1:], goodSig[:62] + " 1"} {
		if _, ok := decodeSignature(s); ok {
			t.Errorf("decodeSignature(%q) succeeded", s)
		}
	}
}

// checkErr fails t unless err has the wanted code ("" for no error) and
// its message contains message.
func checkErr(t *testing.T, err error, code Kind, message string) {
	t.Helper()
	if got := codeOf(t, err); got != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
	if err != nil && !strings.Contains(messageOf(err), message) {
		t.Errorf("message %q does not contain %q", messageOf(err), message)
	}
}
