package server

import (
	"net"
	"net/http"
	"strings"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// foreignHost answers a request to a loopback-only server whose Host is not
// a loopback name. A --dev server takes any access key without checking
// its signature and mints tokens for anyone who asks; a web page the user
// visits could otherwise reach it by pointing a DNS name of its own at
// 127.0.0.1 (DNS rebinding): the browser then sends that name as Host.
func (s *Server) foreignHost(r *http.Request) http.Handler {
	if !s.loopbackOnly || isLoopbackHost(r.Host) {
		return nil
	}
	err := sigv4.Errorf(sigv4.SignatureMismatch,
		"Host '%s' is not a name of this development server: it answers only to localhost, 127.0.0.1 and [::1] (with any port), so that web pages cannot reach it through DNS rebinding.",
		clipHost(r.Host))
	return s.unauthenticated("Unknown", dialectOf(r.URL.Path), func(http.ResponseWriter, *http.Request) error { return err })
}

// fromWebPage answers a request to a loopback-only server that a web
// browser sent on behalf of a page. A page on any site can POST to
// http://127.0.0.1:PORT with the signature in the query string and a
// text/plain body, which needs no CORS preflight; as the --dev server takes
// any access key, it could create an association naming its own role. The
// browser marks such requests and a page cannot unmark them: Origin on
// every cross-origin request and on POSTs, Sec-Fetch-Site on all of them in
// current browsers. AWS SDKs and CLIs send neither. Sec-Fetch-Site "none"
// (an address typed in by the user) and "same-origin" pass.
func (s *Server) fromWebPage(r *http.Request) http.Handler {
	if !s.loopbackOnly {
		return nil
	}
	_, origin := r.Header["Origin"]
	site := strings.ToLower(r.Header.Get("Sec-Fetch-Site"))
	if !origin && site != "cross-site" && site != "same-site" {
		return nil
	}
	err := pi.Errorf(pi.CodeAccessDenied,
		"This development server refuses requests from web pages (the request carries an Origin or a cross-site Sec-Fetch-Site header): it accepts any access key, so any site could otherwise act on it. Call it with an AWS SDK or CLI.")
	return s.unauthenticated("Unknown", dialectOf(r.URL.Path), func(http.ResponseWriter, *http.Request) error { return err })
}

// isLoopbackHost reports whether a Host header names this machine's
// loopback interface: localhost, 127.0.0.1 or [::1], with or without a port.
func isLoopbackHost(host string) bool {
	name := host
	if n, _, err := net.SplitHostPort(host); err == nil {
		name = n
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	switch strings.ToLower(name) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// dialectOf is the error dialect of the API a path belongs to, for
// answers given before routing.
func dialectOf(path string) awsproto.Dialect {
	switch {
	case path == "/" || path == "":
		return awsproto.STS
	case path == "/tags" || strings.HasPrefix(path, "/tags/"):
		return awsproto.EKSTags
	case strings.HasPrefix(path, "/clusters/") && strings.HasSuffix(path, "/assume-role-for-pod-identity"):
		return awsproto.EKSAuth
	}
	return awsproto.EKS
}

// clipHost makes a Host header safe to echo: bounded and printable.
func clipHost(h string) string {
	if len(h) > 128 {
		h = h[:128] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, h)
}
