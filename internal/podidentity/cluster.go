package podidentity

import "time"

// Cluster is a Kubernetes cluster declared in the server's configuration.
// Clusters are not created through the API: they are whatever the operator
// configured, with the issuer their service-account tokens carry.
type Cluster struct {
	Name      string
	ARN       string
	Issuer    string
	Endpoint  string // the cluster's API server, when known
	CreatedAt time.Time
}
