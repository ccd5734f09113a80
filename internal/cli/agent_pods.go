package cli

import (
	"fmt"

	"github.com/podidentity/podidentity/internal/agent"
)

// agentPods is what the agent asks, before a background renewal, whether
// the pod still exists (--check-pods): the API server, as the agent's own
// service account. By default that is on in a cluster and off outside one,
// where there is no API server to ask; asking for it there is an error, so
// that an operator who wants dead pods' renewals stopped knows they are
// not. The second result says which, for the start-up log.
func agentPods(f *agentFlags) (agent.PodChecker, string, error) {
	if !f.checkPods {
		return nil, "off (--check-pods=false)", nil
	}
	apiServer, why := inClusterAPIServer()
	if apiServer == "" {
		if f.checkPodsSet {
			return nil, "", fmt.Errorf("--check-pods: %s, so there is no API server to ask (--check-pods=false renews every wanted pod's credentials)", why)
		}
		return nil, "off (" + why + ")", nil
	}
	client, err := inClusterClient()
	if err != nil {
		return nil, "", fmt.Errorf("--check-pods: %w", err)
	}
	return &agent.APIServerPods{URL: apiServer, Client: client}, apiServer, nil
}
