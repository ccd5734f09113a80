package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Names of the checks, stable for --output json.
const (
	CheckCluster     = "cluster"
	CheckAssociation = "association"
	CheckMutation    = "mutation"
	CheckTokenVolume = "token-volume"
	CheckServerToken = "server-token"
	CheckAgent       = "agent"
)

// doctor carries what earlier checks learned to the later ones.
type doctor struct {
	t      Target
	server Server
	kube   Kube
	agent  Agent

	report Report
	// noServer says why later checks cannot ask the server; empty when
	// they can.
	noServer    string
	association *Association
	pod         *corev1.Pod
}

// Run walks the chain for t. A check whose premise failed is skipped, not
// repeated: one cause, reported once, where it is.
func Run(ctx context.Context, t Target, s Server, k Kube, a Agent) Report {
	d := &doctor{t: t, server: s, kube: k, agent: a}
	d.checkCluster(ctx)
	d.checkAssociation(ctx)
	if t.Pod != "" {
		d.checkMutation(ctx)
		d.checkTokenVolume()
	}
	d.checkServerToken(ctx)
	d.checkAgent(ctx)
	return d.report
}

func (d *doctor) add(name string, st Status, fix, format string, args ...any) {
	d.report.Checks = append(d.report.Checks, Check{Name: name, Status: st, Detail: fmt.Sprintf(format, args...), Fix: fix})
}

func (d *doctor) subject() string { return d.t.Namespace + "/" + d.t.ServiceAccount }

func (d *doctor) checkCluster(ctx context.Context) {
	err := d.server.DescribeCluster(ctx, d.t.Cluster)
	var api *APIError
	switch {
	case err == nil:
		d.add(CheckCluster, OK, "", "the server knows cluster %s", d.t.Cluster)
	case errors.Is(err, ErrUnreachable):
		d.noServer = "the server did not answer"
		d.add(CheckCluster, Problem, "check --endpoint (the server's URL, as in the chart's NOTES) and that the server runs: kubectl -n podidentity logs deploy/podidentity-server",
			"%v", err)
	case errors.As(err, &api) && api.Code == "ResourceNotFoundException":
		d.noServer = "the server does not know cluster " + d.t.Cluster
		d.add(CheckCluster, Problem, "use the cluster name of the server's configuration (clusters[].name; the chart's clusterName) with --cluster-name",
			"the server knows no cluster %s: %s", d.t.Cluster, api.Message)
	default:
		// Any other answer (access denied, say) still proves the server is
		// there: later checks may tell more.
		if !errors.As(err, &api) {
			d.noServer = "the server did not answer"
		}
		d.add(CheckCluster, Problem, credentialsFix("eks:DescribeCluster"), "asking the server about cluster %s: %v", d.t.Cluster, err)
	}
}

func credentialsFix(action string) string {
	return "the doctor signs with the AWS SDK's default credentials (AWS_ACCESS_KEY_ID...); use a principal allowed " + action
}

func (d *doctor) checkAssociation(ctx context.Context) {
	if d.t.Pod != "" {
		pod, err := d.kube.Pod(ctx, d.t.Namespace, d.t.Pod)
		if err != nil {
			fix := "check --namespace and --pod, and that your kubeconfig's user may get pods"
			d.add(CheckAssociation, Problem, fix, "reading pod %s/%s: %v", d.t.Namespace, d.t.Pod, err)
			return
		}
		d.pod = pod
		d.t.ServiceAccount = pod.Spec.ServiceAccountName
		if d.t.ServiceAccount == "" {
			d.t.ServiceAccount = "default"
		}
	}
	if d.noServer != "" {
		d.add(CheckAssociation, Skipped, "", "%s", d.noServer)
		return
	}
	a, err := d.server.ResolveAssociation(ctx, d.t.Cluster, d.t.Namespace, d.t.ServiceAccount)
	switch {
	case err != nil:
		d.add(CheckAssociation, Problem, credentialsFix("eks:ListPodIdentityAssociations"),
			"asking which association applies to %s: %v", d.subject(), err)
	case a == nil:
		d.add(CheckAssociation, Problem,
			fmt.Sprintf("aws eks create-pod-identity-association --endpoint-url URL --cluster-name %s --namespace %s --service-account %s --role-arn ROLE, then recreate the pods",
				d.t.Cluster, d.t.Namespace, d.t.ServiceAccount),
			"no association applies to %s in cluster %s", d.subject(), d.t.Cluster)
	default:
		d.association = a
		how := ""
		if a.Namespace != d.t.Namespace || a.ServiceAccount != d.t.ServiceAccount {
			how = fmt.Sprintf(" (pattern %s/%s)", a.Namespace, a.ServiceAccount)
		}
		d.add(CheckAssociation, OK, "", "%s applies to %s%s: role %s", a.ID, d.subject(), how, a.RoleARN)
	}
}

func (d *doctor) checkAgent(ctx context.Context) {
	if d.agent == nil {
		d.add(CheckAgent, Skipped, "", "the node agent answers only inside the cluster; pass --agent-url with its health URL to probe one")
		return
	}
	if err := d.agent.Probe(ctx); err != nil {
		d.add(CheckAgent, Problem, "kubectl -n podidentity logs ds/podidentity-agent on the pod's node",
			"the agent at %s: %v", d.t.AgentURL, err)
		return
	}
	d.add(CheckAgent, OK, "", "the agent at %s answers", d.t.AgentURL)
}

func joinNames(names []string) string { return strings.Join(names, ", ") }
