package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// checkServerToken asks Kubernetes for a fresh token, as the kubelet does
// for the projected volume, and spends it at the server as the agent
// would. Only the outcome is reported: the token and the credentials
// never leave this function.
func (d *doctor) checkServerToken(ctx context.Context) {
	switch {
	case d.noServer != "":
		d.add(CheckServerToken, Skipped, "", "%s", d.noServer)
		return
	case d.t.Pod != "" && d.pod == nil:
		d.add(CheckServerToken, Skipped, "", "the pod could not be read")
		return
	}
	pod := d.pod
	if pod == nil {
		// The server accepts only tokens bound to a pod (as EKS does), so
		// one of the service account's pods lends its binding.
		pods, err := d.kube.PodsOf(ctx, d.t.Namespace, d.t.ServiceAccount)
		if err != nil {
			d.add(CheckServerToken, Problem, "your kubeconfig's user must be allowed to list pods", "listing the pods of %s: %v", d.subject(), err)
			return
		}
		if len(pods) == 0 {
			d.add(CheckServerToken, Skipped, "", "no pod runs as %s, and the server accepts only tokens bound to a pod; run again with --pod once one does", d.subject())
			return
		}
		pod = &pods[0]
	}
	token, err := d.kube.Token(ctx, d.t.Namespace, d.t.ServiceAccount, podidentity.Audience, pod)
	if err != nil {
		fix := "your kubeconfig's user must be allowed to create serviceaccounts/token in " + d.t.Namespace
		if errors.Is(err, ErrNotFound) {
			fix = "create the service account " + d.subject() + " (the pod cannot start without it either)"
		}
		d.add(CheckServerToken, Problem, fix, "TokenRequest for %s bound to pod %s: %v", d.subject(), pod.Name, err)
		return
	}
	role, err := d.server.AssumeRoleForPodIdentity(ctx, d.t.Cluster, token)
	if err == nil {
		d.add(CheckServerToken, OK, "", "the server accepted a fresh token of %s (pod %s) and gave credentials for %s", d.subject(), pod.Name, role)
		return
	}
	var api *APIError
	if !errors.As(err, &api) {
		d.add(CheckServerToken, Problem, "", "AssumeRoleForPodIdentity: %v", err)
		return
	}
	d.add(CheckServerToken, Problem, assumeFix(api, d.t.Cluster), "AssumeRoleForPodIdentity refused a fresh token of %s (pod %s): %s", d.subject(), pod.Name, api)
}

// assumeFix turns the server's refusal into what to change. An
// AccessDenied from the sts backend (the role's trust policy does not
// admit the server) comes back here, as it would to the agent.
func assumeFix(e *APIError, cluster string) string {
	switch {
	case e.Code == "InvalidTokenException":
		return "the server cannot validate this cluster's tokens: check clusters[" + cluster + "] in its configuration " +
			"(issuer, jwksURL or discovery, tokenReview), and that the service account and pod still exist"
	case e.Code == "AccessDeniedException" && strings.Contains(e.Message, "AssumeRoleForPodIdentity") && strings.Contains(e.Message, "not authorized"):
		return credentialsFix("eks-auth:AssumeRoleForPodIdentity") + " (the node agent's principal is)"
	case e.Code == "AccessDeniedException":
		return "with the sts backend, the role's trust policy must allow sts:AssumeRole and sts:TagSession to the server's AWS principal (docs/aws-setup.md)"
	case e.Code == "ResourceNotFoundException":
		return "create an association for the service account (see " + CheckAssociation + ")"
	}
	return fmt.Sprintf("see the server's log for %s", e.Code)
}
