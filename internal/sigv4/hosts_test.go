package sigv4

import (
	"testing"
	"time"
)

func TestHostAllowed(t *testing.T) {
	allowed := []string{"podidentity.example.com", "10.0.0.5:8080", "[fd00::5]:443", "fd00::6", "secure.example.com:443", "plain.example.com:80"}
	tests := []struct {
		host string
		want bool
	}{
		{"podidentity.example.com", true},
		{"PodIdentity.Example.com:8443", true},
		{"10.0.0.5:8080", true},
		{"10.0.0.5:9090", false},
		{"10.0.0.5", false},
		{"[fd00::5]:443", true},
		{"[fd00::6]:8080", true},
		{"[fd00::6]", true},
		// SDKs leave default ports out of the Host they sign.
		{"[fd00::5]", true},
		{"secure.example.com", true},
		{"secure.example.com:443", true},
		{"secure.example.com:80", false},
		{"secure.example.com:8443", false},
		{"plain.example.com", true},
		{"plain.example.com:443", false},
		{"10.0.0.5:", false},
		{"evil.example.com", false},
		{"podidentity.example.com.evil.example", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := hostAllowed(allowed, tc.host); got != tc.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// A request signed for another host is refused with a message naming the
// host, even though its signature is right.
func TestVerifyHosts(t *testing.T) {
	v := newVerifier(signedAt.Add(time.Second))
	srv := newAWSServer(t, v)
	req := signSDK(t, srv, sdkRequest{method: "GET", target: "/clusters"})
	_, got := send(t, srv, req)
	if got.Err != nil {
		t.Fatalf("without Hosts: %v", got.Err)
	}
	v.Hosts = []string{"podidentity.example.com"}
	req = signSDK(t, srv, sdkRequest{method: "GET", target: "/clusters"})
	_, got = send(t, srv, req)
	checkErr(t, got.Err, SignatureMismatch, "The request was signed for host '"+req.Host+"', which is not a name of this endpoint.")
	v.Hosts = []string{"podidentity.example.com", req.Host}
	req = signSDK(t, srv, sdkRequest{method: "GET", target: "/clusters"})
	if _, got = send(t, srv, req); got.Err != nil {
		t.Errorf("allowed host: %v", got.Err)
	}
	// A name without a port allows every port.
	v.Hosts = []string{"127.0.0.1"}
	req = signSDK(t, srv, sdkRequest{method: "GET", target: "/clusters"})
	if _, got = send(t, srv, req); got.Err != nil {
		t.Errorf("allowed name, any port: %v", got.Err)
	}
}
