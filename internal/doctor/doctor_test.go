package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podidentity/podidentity/internal/webhook"
)

var created = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type fakeServer struct {
	clusterErr error
	assoc      *Association
	assumeErr  error
	tokens     []string // tokens spent
}

func (s *fakeServer) DescribeCluster(context.Context, string) error { return s.clusterErr }
func (s *fakeServer) ResolveAssociation(context.Context, string, string, string) (*Association, error) {
	return s.assoc, nil
}
func (s *fakeServer) AssumeRoleForPodIdentity(_ context.Context, _, token string) (string, error) {
	s.tokens = append(s.tokens, token)
	return "arn:aws:iam::111122223333:role/app", s.assumeErr
}

type fakeKube struct {
	pods     []corev1.Pod
	hooks    []admissionv1.MutatingWebhookConfiguration
	ready    int
	tokenErr error
	bound    string // pod the last token was bound to
}

func (k *fakeKube) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	for i := range k.pods {
		if k.pods[i].Name == name {
			return &k.pods[i], nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s: %w", ns, name, ErrNotFound)
}
func (k *fakeKube) PodsOf(context.Context, string, string) ([]corev1.Pod, error) { return k.pods, nil }
func (k *fakeKube) Token(_ context.Context, _, _, audience string, pod *corev1.Pod) (string, error) {
	k.bound = pod.Name
	return "token-for-" + audience, k.tokenErr
}
func (k *fakeKube) MutatingWebhookConfigurations(context.Context) ([]admissionv1.MutatingWebhookConfiguration, error) {
	return k.hooks, nil
}
func (k *fakeKube) ReadyEndpoints(context.Context, string, string) (int, error) { return k.ready, nil }

func chartHook() []admissionv1.MutatingWebhookConfiguration {
	return []admissionv1.MutatingWebhookConfiguration{{Webhooks: []admissionv1.MutatingWebhook{{
		Name:         webhookName,
		ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "podidentity", Name: "podidentity-webhook"}},
	}}}}
}

// pod is a pod as the webhook leaves it, changed by edit.
func pod(mutated bool, edit func(*corev1.Pod)) corev1.Pod {
	exp := int64(86400)
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a", CreationTimestamp: metav1.NewTime(created.Add(time.Hour))},
		Spec:       corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app"}}},
	}
	if mutated {
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: webhook.EnvCredentialsURI, Value: webhook.CredentialsURIIPv4}, {Name: webhook.EnvTokenFile, Value: webhook.TokenFile}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: webhook.VolumeName, MountPath: webhook.MountPath, ReadOnly: true}}
		p.Spec.Volumes = []corev1.Volume{{Name: webhook.VolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "pods.eks.amazonaws.com", ExpirationSeconds: &exp, Path: webhook.TokenPath}}}}}}}
	}
	if edit != nil {
		edit(&p)
	}
	return p
}

func assoc() *Association {
	return &Association{ID: "a-123", Namespace: "team-a", ServiceAccount: "app", RoleARN: "arn:aws:iam::111122223333:role/app", CreatedAt: created}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target // Cluster and Namespace filled in
		server fakeServer
		kube   fakeKube
		want   map[string]Status
		says   string // in some check's detail or fix
	}{{
		name:   "all well",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube:   fakeKube{pods: []corev1.Pod{pod(true, nil)}, hooks: chartHook(), ready: 1},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: OK, CheckTokenVolume: OK, CheckServerToken: OK, CheckAgent: Skipped},
		says:   "gave credentials for arn:aws:iam::111122223333:role/app",
	}, {
		name:   "server unreachable",
		target: Target{ServiceAccount: "app"},
		server: fakeServer{clusterErr: fmt.Errorf("%w at http://127.0.0.1:1: connection refused", ErrUnreachable)},
		want:   map[string]Status{CheckCluster: Problem, CheckAssociation: Skipped, CheckServerToken: Skipped, CheckAgent: Skipped},
		says:   "check --endpoint",
	}, {
		name:   "unknown cluster",
		target: Target{ServiceAccount: "app"},
		server: fakeServer{clusterErr: &APIError{"ResourceNotFoundException", "No cluster found for name: c."}},
		kube:   fakeKube{pods: []corev1.Pod{pod(true, nil)}},
		want:   map[string]Status{CheckCluster: Problem, CheckAssociation: Skipped, CheckServerToken: Skipped, CheckAgent: Skipped},
		says:   "--cluster-name",
	}, {
		name:   "no association",
		target: Target{Pod: "web"},
		kube:   fakeKube{pods: []corev1.Pod{pod(false, nil)}, hooks: chartHook(), ready: 1},
		server: fakeServer{assumeErr: &APIError{"ResourceNotFoundException", "no association"}},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: Problem, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: Problem, CheckAgent: Skipped},
		says:   "create-pod-identity-association",
	}, {
		name:   "created before the association",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube: fakeKube{pods: []corev1.Pod{pod(false, func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(created.Add(-time.Minute)) })},
			hooks: chartHook(), ready: 1},
		want: map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: OK, CheckAgent: Skipped},
		says: "before association a-123",
	}, {
		name:   "created in the association's second",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: func() *Association { a := assoc(); a.CreatedAt = created.Add(300 * time.Millisecond); return a }()},
		kube:   fakeKube{pods: []corev1.Pod{pod(false, func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(created) })}, hooks: chartHook(), ready: 1},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: OK, CheckAgent: Skipped},
		says:   "in the same second as association a-123",
	}, {
		name:   "webhook without endpoints",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube:   fakeKube{pods: []corev1.Pod{pod(false, nil)}, hooks: chartHook()},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: OK, CheckAgent: Skipped},
		says:   "podidentity/podidentity-webhook has no ready endpoints",
	}, {
		name:   "no webhook",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube:   fakeKube{pods: []corev1.Pod{pod(false, nil)}},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: OK, CheckAgent: Skipped},
		says:   "no MutatingWebhookConfiguration has the webhook",
	}, {
		name:   "skipped and preset containers",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube: fakeKube{pods: []corev1.Pod{pod(true, func(p *corev1.Pod) {
			p.Annotations = map[string]string{webhook.AnnotationSkipContainers: "sidecar"}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"},
				corev1.Container{Name: "own", Env: []corev1.EnvVar{{Name: webhook.EnvCredentialsURI, Value: "http://elsewhere"}}})
		})}, hooks: chartHook(), ready: 1},
		want: map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: OK, CheckTokenVolume: OK, CheckServerToken: OK, CheckAgent: Skipped},
		says: "containers app have",
	}, {
		name:   "all containers skipped",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube: fakeKube{pods: []corev1.Pod{pod(false, func(p *corev1.Pod) {
			p.Annotations = map[string]string{webhook.AnnotationSkipContainers: "app"}
		})}, hooks: chartHook(), ready: 1},
		want: map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: Problem, CheckTokenVolume: Skipped, CheckServerToken: OK, CheckAgent: Skipped},
		says: "eks.amazonaws.com/skip-containers annotation skips app",
	}, {
		name:   "wrong audience",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube: fakeKube{pods: []corev1.Pod{pod(true, func(p *corev1.Pod) {
			p.Spec.Volumes[0].Projected.Sources[0].ServiceAccountToken.Audience = "sts.amazonaws.com"
		})}},
		want: map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: OK, CheckTokenVolume: Problem, CheckServerToken: OK, CheckAgent: Skipped},
		says: `the token's audience is "sts.amazonaws.com"`,
	}, {
		name:   "token refused",
		target: Target{ServiceAccount: "app"},
		server: fakeServer{assoc: assoc(), assumeErr: &APIError{"InvalidTokenException", "service account deleted"}},
		kube:   fakeKube{pods: []corev1.Pod{pod(true, nil)}},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckServerToken: Problem, CheckAgent: Skipped},
		says:   "InvalidTokenException: service account deleted",
	}, {
		name:   "trust policy",
		target: Target{ServiceAccount: "app"},
		server: fakeServer{assoc: assoc(), assumeErr: &APIError{"AccessDeniedException", "STS refused AssumeRole for role/app"}},
		kube:   fakeKube{pods: []corev1.Pod{pod(true, nil)}},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckServerToken: Problem, CheckAgent: Skipped},
		says:   "trust policy",
	}, {
		name:   "no pod to bind a token to",
		target: Target{ServiceAccount: "app"},
		server: fakeServer{assoc: assoc()},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckServerToken: Skipped, CheckAgent: Skipped},
		says:   "no pod runs as team-a/app",
	}, {
		name:   "service account gone",
		target: Target{Pod: "web"},
		server: fakeServer{assoc: assoc()},
		kube:   fakeKube{pods: []corev1.Pod{pod(true, nil)}, tokenErr: fmt.Errorf("serviceaccounts %q %w", "app", ErrNotFound)},
		want:   map[string]Status{CheckCluster: OK, CheckAssociation: OK, CheckMutation: OK, CheckTokenVolume: OK, CheckServerToken: Problem, CheckAgent: Skipped},
		says:   "create the service account team-a/app",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.Cluster, tc.target.Namespace = "demo", "team-a"
			r := Run(context.Background(), tc.target, &tc.server, &tc.kube, nil)
			got := map[string]Status{}
			var text bytes.Buffer
			r.WriteText(&text)
			for _, c := range r.Checks {
				got[c.Name] = c.Status
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("statuses (-want +got):\n%s\n%s", d, text.String())
			}
			if !strings.Contains(text.String(), tc.says) {
				t.Errorf("the report does not say %q:\n%s", tc.says, text.String())
			}
			for _, tok := range tc.server.tokens {
				if strings.Contains(text.String(), tok) {
					t.Errorf("the report shows the token:\n%s", text.String())
				}
			}
			if wantOK := !strings.Contains(fmt.Sprint(tc.want), "problem"); r.OK() != wantOK {
				t.Errorf("OK() = %v, want %v", r.OK(), wantOK)
			}
			if tc.target.Pod != "" && len(tc.server.tokens) > 0 && tc.kube.bound != tc.target.Pod {
				t.Errorf("token bound to %q, want the pod %q", tc.kube.bound, tc.target.Pod)
			}
		})
	}
}

type fakeAgent struct{ err error }

func (a fakeAgent) Probe(context.Context) error { return a.err }

func TestAgentProbe(t *testing.T) {
	for _, tc := range []struct {
		agent Agent
		want  Status
	}{{nil, Skipped}, {fakeAgent{}, OK}, {fakeAgent{errors.New("connection refused")}, Problem}} {
		r := Run(context.Background(), Target{Cluster: "demo", Namespace: "team-a", ServiceAccount: "app", AgentURL: "http://10.0.0.1:2703/readyz"},
			&fakeServer{assoc: assoc()}, &fakeKube{}, tc.agent)
		if got := r.Checks[len(r.Checks)-1]; got.Name != CheckAgent || got.Status != tc.want {
			t.Errorf("agent %v: got %+v, want %s", tc.agent, got, tc.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	r := Report{Checks: []Check{{Name: CheckCluster, Status: OK, Detail: "known"}, {Name: CheckAgent, Status: Problem, Detail: "down", Fix: "start it"}}}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"ok": false, "checks": []any{
		map[string]any{"name": "cluster", "status": "ok", "detail": "known"},
		map[string]any{"name": "agent", "status": "problem", "detail": "down", "fix": "start it"},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("JSON (-want +got):\n%s", d)
	}
}
