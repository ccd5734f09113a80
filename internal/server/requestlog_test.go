package server

import (
	"net/http/httptest"
	"testing"
)

// Only what is shaped like an access key id reaches the log: a client
// cannot write what it likes there.
func TestAccessKeyIDForTheLog(t *testing.T) {
	for _, tc := range []struct{ auth, query, want string }{
		{"AWS4-HMAC-SHA256 Credential=AKIAADMIN0000000/20261204/us-west-2/eks/aws4_request, SignedHeaders=host, Signature=abc", "", "AKIAADMIN0000000"},
		{"", "X-Amz-Credential=ASIAM5YKZ3F4TT67LQZT%2F20261204%2Fus-west-2%2Fsts%2Faws4_request", "ASIAM5YKZ3F4TT67LQZT"},
		{"AWS4-HMAC-SHA256 Credential=akia\nfake log line/x", "", ""},
		{"AWS4-HMAC-SHA256 Credential=SHORT/x", "", ""},
		{"Bearer abc", "", ""},
		{"", "", ""},
	} {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := accessKeyID(r); got != tc.want {
			t.Errorf("accessKeyID(%q, %q) = %q, want %q", tc.auth, tc.query, got, tc.want)
		}
	}
}
