package sigv4

import (
	"net"
	"strings"
)

// hostAllowed reports whether host, a Host header (always signed: see
// checkSignedHeaders), names this server. An allowed entry with a port
// must match host and port; one without matches any port. A Host without a
// port is on its scheme's default port, which SDKs leave out when signing,
// so it matches an entry with port 443 or 80: the scheme cannot be told
// here (TLS often ends at a proxy), and either is the same name's endpoint.
// Names compare case-insensitively, as DNS does.
func hostAllowed(allowed []string, host string) bool {
	name, port := splitHost(host)
	for _, a := range allowed {
		aname, aport := splitHost(a)
		if !strings.EqualFold(aname, name) {
			continue
		}
		if aport == "" || aport == port || (port == "" && (aport == "443" || aport == "80")) {
			return true
		}
	}
	return false
}

// splitHost splits "name:port", "[v6]:port", "name" or "[v6]".
func splitHost(h string) (name, port string) {
	if n, p, err := net.SplitHostPort(h); err == nil {
		return n, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ""
}
