package sigv4

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// demoARN is the kind of resource ARN EKS puts in paths, as it appears
// on the wire after the client escapes it as one path segment.
const (
	demoARN        = "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-abc"
	demoARNEscaped = "arn%3Aaws%3Aeks%3Aus-west-2%3A111122223333%3Apodidentityassociation%2Fdemo%2Fa-abc"
)

func TestRequestTarget(t *testing.T) {
	tests := []struct {
		name            string
		raw             string // request line target, read as http.Server would
		path, rawQuery  string
		syntheticTarget string // instead of raw: a URL for httptest.NewRequest-like construction
	}{
		{name: "plain", raw: "/clusters", path: "/clusters"},
		{name: "arn path stays escaped", raw: "/tags/" + demoARNEscaped, path: "/tags/" + demoARNEscaped},
		{name: "lower-case escapes stay as sent", raw: "/tags/arn%3aaws", path: "/tags/arn%3aaws"},
		{name: "unescaped colon stays unescaped", raw: "/tags/arn:aws:eks", path: "/tags/arn:aws:eks"},
		{name: "query", raw: "/clusters?maxResults=10&nextToken=a%2Fb+c", path: "/clusters", rawQuery: "maxResults=10&nextToken=a%2Fb+c"},
		{name: "empty query", raw: "/clusters?", path: "/clusters"},
		{name: "dot segments kept", raw: "/a/./b/../c//d", path: "/a/./b/../c//d"},
		{name: "absolute form", raw: "http://example.com:8080/clusters?x=1", path: "/clusters", rawQuery: "x=1"},
		{name: "absolute form without path", raw: "http://example.com", path: "/"},
		{name: "absolute form with only query", raw: "http://example.com?x=1", path: "/", rawQuery: "x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := readRequest(t, "GET "+tt.raw+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
			path, q := requestTarget(r)
			if path != tt.path || q != tt.rawQuery {
				t.Errorf("requestTarget(%q) = %q, %q; want %q, %q", tt.raw, path, q, tt.path, tt.rawQuery)
			}
		})
	}

	t.Run("rewritten r.URL is ignored", func(t *testing.T) {
		r, _ := readRequest(t, "GET /api/tags/"+demoARNEscaped+"?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
		h := http.StripPrefix("/api", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			path, q := requestTarget(r)
			if want := "/api/tags/" + demoARNEscaped; path != want || q != "a=1" {
				t.Errorf("requestTarget after StripPrefix = %q, %q; want %q, %q", path, q, want, "a=1")
			}
		}))
		h.ServeHTTP(httptest.NewRecorder(), r)
	})

	t.Run("in-process request uses what the Go client would send", func(t *testing.T) {
		u := &url.URL{Scheme: "https", Host: "eks.example", Path: "/tags/" + demoARN, RawPath: "/tags/" + demoARNEscaped, RawQuery: "b=2&a=1"}
		r := &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}}
		path, q := requestTarget(r)
		if path != "/tags/"+demoARNEscaped || q != "b=2&a=1" {
			t.Errorf("requestTarget = %q, %q", path, q)
		}
	})
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"/", "/"},
		{"/clusters", "/clusters"},
		// Non-S3 signers escape the escaped path again.
		{"/tags/" + demoARNEscaped, "/tags/arn%253Aaws%253Aeks%253Aus-west-2%253A111122223333%253Apodidentityassociation%252Fdemo%252Fa-abc"},
		{"/tags/arn:aws", "/tags/arn%3Aaws"},
		{"/a b/~x_y.z-", "/a%20b/~x_y.z-"},
		{"/%E1%88%B4", "/%25E1%2588%25B4"},
		{"/\xe1\x88\xb4", "/%E1%88%B4"},
		{"/a+b=c&d", "/a%2Bb%3Dc%26d"},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalURI(nil, tt.raw)); got != tt.want {
			t.Errorf("appendCanonicalURI(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	// Expected values follow botocore's remove_dot_segments.
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"//", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/a//b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/example1/example2/../..", "/"},
		{"/../../a", "/a"},
		{"/a/b/..", "/a"},
		{"/a/.", "/a"},
		{"/a/%2E%2E/b", "/a/%2E%2E/b"}, // escaped dots are data, not segments
		{"*", "*"},
	}
	for _, tt := range tests {
		if got := normalizePath(tt.in); got != tt.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		presigned bool
		want      string
	}{
		{name: "empty", raw: "", want: ""},
		{name: "sorted by key", raw: "b=2&a=1&c=3", want: "a=1&b=2&c=3"},
		{name: "upper case sorts first", raw: "a=1&B=2", want: "B=2&a=1"},
		{name: "duplicate keys sorted by value", raw: "k=2&k=10&k=1", want: "k=1&k=10&k=2"},
		{name: "empty value", raw: "a=&b=1", want: "a=&b=1"},
		{name: "key without equals", raw: "a&b=1", want: "a=&b=1"},
		{name: "empty pairs dropped", raw: "&a=1&&b=2&", want: "a=1&b=2"},
		{name: "plus is a space", raw: "q=a+b", want: "q=a%20b"},
		{name: "escaped plus stays a plus", raw: "q=a%2Bb", want: "q=a%2Bb"},
		{name: "percent-20 space", raw: "q=a%20b", want: "q=a%20b"},
		{name: "lower-case escapes upper-cased", raw: "q=a%2fb", want: "q=a%2Fb"},
		{name: "escaped unreserved characters unescaped", raw: "q=%7E%41%2D%2E%5F", want: "q=~A-._"},
		{name: "reserved characters escaped", raw: "q=a/b:c@d!e*f'g(h)i", want: "q=a%2Fb%3Ac%40d%21e%2Af%27g%28h%29i"},
		{name: "equals in value", raw: "q=a=b", want: "q=a%3Db"},
		{name: "utf-8", raw: "%E1%88%B4=bar", want: "%E1%88%B4=bar"},
		{name: "raw utf-8", raw: "\xe1\x88\xb4=bar", want: "%E1%88%B4=bar"},
		{name: "sorted after encoding", raw: "k=a-b&k=a/b", want: "k=a%2Fb&k=a-b"},
		{name: "sorted after encoding keys", raw: "a-b=1&a/b=2", want: "a%2Fb=2&a-b=1"},
		{name: "semicolon is data", raw: "a=1;b=2", want: "a=1%3Bb%3D2"},
		{name: "signature kept in header form", raw: "X-Amz-Signature=abc&a=1", want: "X-Amz-Signature=abc&a=1"},
		{
			name:      "presigned drops only the signature",
			raw:       "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20231102%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20231102T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc",
			presigned: true,
			want:      "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20231102%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20231102T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := parseQuery(tt.raw)
			if err != nil {
				t.Fatalf("parseQuery(%q): %v", tt.raw, err)
			}
			if got := string(appendCanonicalQuery(nil, q, tt.presigned, false)); got != tt.want {
				t.Errorf("canonical query of %q = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}

	for _, raw := range []string{"a=%", "a=%zz", "%g=1", "a=1&b=%2"} {
		if _, err := parseQuery(raw); err == nil {
			t.Errorf("parseQuery(%q) succeeded, want an error", raw)
		}
	}

	t.Run("redacted token", func(t *testing.T) {
		q, _ := parseQuery("X-Amz-Security-Token=secret%2Ftoken&a=1")
		got := string(appendCanonicalQuery(nil, q, true, true))
		if strings.Contains(got, "secret") || !strings.Contains(got, "X-Amz-Security-Token="+redacted) {
			t.Errorf("redacted canonical query = %q", got)
		}
	})
}

func TestCanonicalHeaders(t *testing.T) {
	raw := "POST /clusters HTTP/1.1\r\n" +
		"Host: Eks.Example.com:8443\r\n" +
		"Content-Length: 2\r\n" +
		"Content-Type: application/json\r\n" +
		"x-custom-HEADER:   a   b    c  \r\n" +
		"X-Multi: one\r\n" +
		"X-Multi:  two  three \r\n" +
		"X-Empty:\r\n" +
		"X-Tab:\ta \t b\t\r\n" +
		"X-Amz-Security-Token: the-token\r\n" +
		"\r\n{}"
	r, _ := readRequest(t, raw)
	tests := []struct {
		name, signed, want string
		redact             bool
	}{
		{name: "host comes from r.Host", signed: "host", want: "host:Eks.Example.com:8443\n"},
		{name: "content-length stays in the header", signed: "content-length;host", want: "content-length:2\nhost:Eks.Example.com:8443\n"},
		{name: "names in any case", signed: "Content-Type;HOST", want: "Content-Type:application/json\nHOST:Eks.Example.com:8443\n"},
		{name: "spaces folded", signed: "x-custom-header", want: "x-custom-header:a b c\n"},
		{name: "repeated header joined with commas", signed: "x-multi", want: "x-multi:one,two three\n"},
		{name: "empty value", signed: "x-empty", want: "x-empty:\n"},
		{name: "inner tabs kept", signed: "x-tab", want: "x-tab:a \t b\n"},
		{name: "absent header is empty", signed: "x-absent", want: "x-absent:\n"},
		{name: "order as listed", signed: "x-multi;host", want: "x-multi:one,two three\nhost:Eks.Example.com:8443\n"},
		{name: "token", signed: "x-amz-security-token", want: "x-amz-security-token:the-token\n"},
		{name: "token redacted", signed: "x-amz-security-token", redact: true, want: "x-amz-security-token:" + redacted + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendCanonicalHeaders(nil, r, tt.signed, tt.redact)); got != tt.want {
				t.Errorf("canonical headers for %q = %q, want %q", tt.signed, got, tt.want)
			}
		})
	}

	t.Run("in-process request", func(t *testing.T) {
		r := httptest.NewRequest("POST", "http://eks.example/clusters", strings.NewReader("{}"))
		r.Header["lower-case-key"] = []string{"v"} // not canonical: found by the case-insensitive scan
		got := string(appendCanonicalHeaders(nil, r, "content-length;host;lower-case-key", false))
		if want := "content-length:2\nhost:eks.example\nlower-case-key:v\n"; got != want {
			t.Errorf("canonical headers = %q, want %q", got, want)
		}
	})
}
