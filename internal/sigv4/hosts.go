package sigv4

import (
	"net"
	"strings"
)

// hostAllowed reports whether host, a Host header (always signed: see
// checkSignedHeaders), names this server. An allowed entry with a port
// must match host and port; one without matches any port. Names compare
// case-insensitively, as DNS does.
func hostAllowed(allowed []string, host string) bool {
	name, port := splitHost(host)
	for _, a := range allowed {
		aname, aport := splitHost(a)
		if strings.EqualFold(aname, name) && (aport == "" || aport == port) {
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
