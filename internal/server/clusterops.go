package server

import (
	"net/http"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// clusterLifecycleRoutes answers the EKS operations that create, change or
// remove clusters. Clusters here are declared in the server's
// configuration, so these calls are authenticated and authorized as any
// other (a caller without the right learns nothing more), then refused
// with a ClientException that says where clusters come from, instead of an
// UnknownOperationException that reads as a broken endpoint.
func (s *Server) clusterLifecycleRoutes() {
	for _, r := range []struct{ pattern, name string }{
		{"POST /clusters", "CreateCluster"},
		{"DELETE /clusters/{clusterName}", "DeleteCluster"},
		{"POST /clusters/{clusterName}/update-config", "UpdateClusterConfig"},
		{"POST /clusters/{clusterName}/updates", "UpdateClusterVersion"},
		{"POST /cluster-registrations", "RegisterCluster"},
		{"DELETE /cluster-registrations/{clusterName}", "DeregisterCluster"},
	} {
		scope := s.clusterScope
		if r.name == "CreateCluster" || r.name == "RegisterCluster" {
			scope = accountScope
		}
		s.mux.Handle(r.pattern, s.operation(s.eksOp(r.name, scope), clustersFromConfiguration(r.name)))
	}
}

func clustersFromConfiguration(op string) bodyHandler {
	return func(http.ResponseWriter, *http.Request, []byte) error {
		return pi.Errorf(pi.CodeUnsupported,
			"%s is not offered: this server's clusters are declared in its configuration file (the clusters key), not through the EKS API. Add or remove the cluster there and restart the server.", op)
	}
}
