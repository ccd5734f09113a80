// Package doctor answers "why does my pod get no credentials?": it walks
// the chain a pod's credentials travel (cluster, association, webhook
// mutation, token volume, token validation at the server, node agent) and
// says of each link whether it holds, with the fix when it does not.
//
// It sees the podidentity server, Kubernetes and the node agent only
// through the small interfaces below, so the checks are pure logic that
// unit tests drive with fakes; internal/cli wires the real clients.
package doctor

import (
	"context"
	"errors"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
)

// Status is the outcome of one check.
type Status string

const (
	OK      Status = "ok"
	Problem Status = "problem"
	Skipped Status = "skipped"
)

// Check is one link of the chain, as reported to the user.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in the order of the chain.
type Report struct {
	Checks []Check `json:"checks"`
}

// OK reports whether no check found a problem (skipped checks are not
// problems: they are what cannot be seen from here).
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Problem {
			return false
		}
	}
	return true
}

// Association is what the server says applies to a service account.
type Association struct {
	ID, ARN                   string
	Namespace, ServiceAccount string // as written: a pattern association shows its pattern
	RoleARN                   string
	CreatedAt                 time.Time // zero when the server did not say
}

// APIError is an error the server answered, reduced to what may be shown:
// its code and message (never a token or credentials).
type APIError struct{ Code, Message string }

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// ErrUnreachable wraps an error of the transport: the server did not
// answer at all.
var ErrUnreachable = errors.New("the podidentity server cannot be reached")

// ErrNotFound is a Kubernetes object that does not exist.
var ErrNotFound = errors.New("not found")

// Server is the podidentity server's API, as the doctor uses it.
type Server interface {
	// DescribeCluster fails with *APIError ResourceNotFoundException for
	// an unknown cluster, or an error wrapping ErrUnreachable.
	DescribeCluster(ctx context.Context, cluster string) error
	// ResolveAssociation returns the association that applies to the
	// service account, or nil and no error when none does.
	ResolveAssociation(ctx context.Context, cluster, namespace, serviceAccount string) (*Association, error)
	// AssumeRoleForPodIdentity exchanges token and returns the ARN of
	// the role it got credentials for; the credentials are dropped.
	AssumeRoleForPodIdentity(ctx context.Context, cluster, token string) (roleARN string, err error)
}

// Kube is the Kubernetes API, as the doctor uses it.
type Kube interface {
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// PodsOf lists the pods running as a service account.
	PodsOf(ctx context.Context, namespace, serviceAccount string) ([]corev1.Pod, error)
	// Token is a TokenRequest for the service account with audience,
	// bound to pod.
	Token(ctx context.Context, namespace, serviceAccount, audience string, pod *corev1.Pod) (string, error)
	MutatingWebhookConfigurations(ctx context.Context) ([]admissionv1.MutatingWebhookConfiguration, error)
	// ReadyEndpoints counts the ready endpoints of a Service.
	ReadyEndpoints(ctx context.Context, namespace, service string) (int, error)
}

// Agent probes a node agent's health; nil when there is none to probe.
type Agent interface {
	Probe(ctx context.Context) error
}

// Target is what to diagnose.
type Target struct {
	Cluster        string
	Namespace      string
	Pod            string // empty: ServiceAccount alone
	ServiceAccount string
	// AgentURL is shown in the agent check; empty when Agent is nil.
	AgentURL string
}
