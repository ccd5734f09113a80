package server

import (
	"net/http"
	"path"
	"strings"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// uncleanPath answers a request whose path has "." or ".." segments or an
// empty one ("//"). http.ServeMux would redirect it to the cleaned path,
// which no AWS endpoint does: an SDK follows the redirect and the request
// lands, re-signed or not, on another operation or resource
// ("/clusters/../clusters/demo/..." becomes cluster demo). AWS answers such
// a path as naming a resource that does not exist, so do we, in the
// dialect of the API the path belongs to. Nothing here depends on stored
// state (no configured cluster can be named "." or ".."), so it is
// answered before authentication, like any unknown path.
//
// Percent-encoded dots ("%2E%2E") are not cleaned by the mux: they reach
// the handlers as the literal name "..", which no cluster or association
// has.
func (s *Server) uncleanPath(r *http.Request) http.Handler {
	p := r.URL.EscapedPath()
	if isCleanPath(p) {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	bad := func(i int) bool { return i < len(segs) && (segs[i] == "" || segs[i] == "." || segs[i] == "..") }
	name := func(i int) string {
		if segs[i] == "" {
			return "(empty)"
		}
		return segs[i]
	}
	dialect := dialectOf(p)
	if dialect == awsproto.STS {
		dialect = awsproto.EKS // "//" and "/./" are no STS endpoint
	}
	var err error
	switch {
	case segs[0] != "clusters" && segs[0] != "tags":
		err = pi.Errorf(awsproto.CodeUnknownOperation, "No operation matches %s %s.", r.Method, clipPath(p))
	case segs[0] == "clusters" && bad(1):
		err = pi.Errorf(pi.CodeNotFound, "No cluster found for name: %s.", name(1))
	case segs[0] == "clusters" && len(segs) > 2 && segs[2] == "pod-identity-associations" && bad(3):
		err = pi.Errorf(pi.CodeNotFound, "No association found for id: %s.", name(3))
	default:
		err = pi.Errorf(pi.CodeNotFound, "No resource matches the path %s: it has a '.', '..' or empty segment.", clipPath(p))
	}
	return s.unauthenticated("Unknown", dialect, func(http.ResponseWriter, *http.Request) error { return err })
}

// isCleanPath reports whether http.ServeMux would route p without
// redirecting: its own cleanPath, path.Clean keeping a trailing slash.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// clusterName is the cluster a /clusters/{clusterName}/... path names.
// Every route calls that path value clusterName, as the EKS Auth and pod
// identity association models do, so that one name means one thing.
func clusterName(r *http.Request) string { return r.PathValue("clusterName") }
