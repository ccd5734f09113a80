package awsproto

import (
	"net/http/httptest"
	"strings"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func TestQueryParams(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		want                       map[string]string
		message                    string // of the refusal; "" when accepted
	}{
		{name: "GET query", method: "GET", target: "/?Action=GetCallerIdentity&Version=2011-06-15",
			want: map[string]string{"Action": "GetCallerIdentity", "Version": "2011-06-15"}},
		{name: "POST body", method: "POST", target: "/", body: "Action=GetCallerIdentity",
			want: map[string]string{"Action": "GetCallerIdentity"}},
		{name: "presigned POST: auth in the URL, action in the body", method: "POST", target: "/?X-Amz-Signature=ab", body: "Action=GetCallerIdentity",
			want: map[string]string{"Action": "GetCallerIdentity", "X-Amz-Signature": "ab"}},
		{name: "repeated in the body", method: "POST", target: "/", body: "Action=A&Action=B", message: "Parameter Action is given 2 times."},
		{name: "in both the URL and the body", method: "POST", target: "/?Action=GetCallerIdentity", body: "Action=AssumeRole",
			message: "Parameter Action is given in both the URL and the body; give it once."},
		{name: "same value in both", method: "POST", target: "/?Version=2011-06-15", body: "Version=2011-06-15",
			message: "Parameter Version is given in both the URL and the body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			v, err := QueryParams(r, []byte(tc.body))
			if tc.message != "" {
				if pi.ErrorCode(err) != pi.CodeInvalidParameter || !strings.Contains(pi.ErrorMessage(err), tc.message) {
					t.Fatalf("err = %v, want InvalidParameter %q", err, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != len(tc.want) {
				t.Errorf("params %v, want %v", v, tc.want)
			}
			for k, want := range tc.want {
				if v.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, v.Get(k), want)
				}
			}
		})
	}
}
