package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

// The doctor's own world: a namespace, a server and a webhook of its own,
// so that it runs alone (-run Doctor) or after the other tests alike.
const (
	doctorNS        = "doctor"
	doctorSystemNS  = "doctor-system"
	doctorCluster   = "doctor"
	doctorStaleKeys = "doctor-stale-keys" // the same issuer, with keys that are not the API server's
)

var doctorAdmin = principal{"AKIAPODIDENTITYDOCTOR", "doctor-secret-access-key"}

type doctorEnv struct {
	kube   *kubeCluster
	server *process
	eks    *eks.Client
}

// TestDoctor runs `podidentity doctor` against the real kube-apiserver and
// the real server for every failure it diagnoses, and for a pod that is
// well. Each output is logged (go test -v shows them).
func TestDoctor(t *testing.T) {
	c := startCluster(t)
	e := startDoctorEnv(t, c)

	// Created after its association: mutated, and its token buys credentials.
	e.associate(t, "app")
	e.associateIn(t, doctorStaleKeys, "app")
	e.createPod(t, "healthy", "app", nil)
	e.createPod(t, "lonely-pod", "lonely", nil)
	// Created before its association: left alone by the webhook.
	e.createPod(t, "early", "late", nil)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has whole seconds
	e.associate(t, "late")
	// A pod written by hand with a token for another audience.
	e.createPod(t, "wrong-audience", "app", func(spec map[string]any) {
		exp := 3600
		spec["volumes"] = []any{map[string]any{"name": "eks-pod-identity-token", "projected": map[string]any{"sources": []any{
			map[string]any{"serviceAccountToken": map[string]any{"audience": "sts.amazonaws.com", "expirationSeconds": exp, "path": "eks-pod-identity-token"}}}}}}
		spec["containers"] = []any{map[string]any{"name": "app", "image": "busybox",
			"env": []any{
				map[string]any{"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"},
				map[string]any{"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"}},
			"volumeMounts": []any{map[string]any{"name": "eks-pod-identity-token", "mountPath": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", "readOnly": true}}}}
	})
	// A pod whose service account was deleted after it started.
	e.associate(t, "doomed")
	e.createPod(t, "doomed-pod", "doomed", nil)
	c.must(t, nil, "delete", "serviceaccount", "doomed", "-n", doctorNS)

	for _, tc := range []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"Healthy", []string{"--pod", "healthy"}, 0, []string{"ok       mutation", "ok       token-volume", "ok       server-token"}},
		{"HealthyByServiceAccount", []string{"--service-account", "app", "--output", "json"}, 0, []string{`"ok": true`, `"name": "server-token"`}},
		{"NoAssociation", []string{"--service-account", "lonely"}, 1, []string{"problem  association   no association applies to doctor/lonely"}},
		{"PodBeforeAssociation", []string{"--pod", "early"}, 1, []string{"problem  mutation", "before association", "recreate the pod"}},
		{"WrongAudience", []string{"--pod", "wrong-audience"}, 1, []string{`problem  token-volume  the token's audience is "sts.amazonaws.com"`}},
		{"ServerUnreachable", []string{"--pod", "healthy", "--endpoint", "http://127.0.0.1:1"}, 1, []string{"problem  cluster", `cannot be reached at http://127.0.0.1:1: Get "http://127.0.0.1:1/clusters/doctor"`, "skipped  server-token"}},
		{"TokenRefused", []string{"--pod", "healthy", "--cluster-name", doctorStaleKeys}, 1, []string{"ok       association", "problem  server-token", "InvalidTokenException"}},
		{"ServiceAccountDeleted", []string{"--pod", "doomed-pod"}, 1, []string{"problem  server-token", "create the service account doctor/doomed"}},
		{"UnknownCluster", []string{"--pod", "healthy", "--cluster-name", "nope"}, 1, []string{"problem  cluster       the server knows no cluster nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := e.doctor(t, tc.args...)
			t.Logf("podidentity doctor %s (exit %d):\n%s", strings.Join(tc.args, " "), code, out)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, s := range tc.says {
				if !strings.Contains(out, s) {
					t.Errorf("the output lacks %q", s)
				}
			}
			// Neither a token (three base64url parts) nor a secret key.
			for _, secret := range []string{"eyJ", doctorAdmin.secret, "SecretAccessKey", "ASIA"} {
				if strings.Contains(out, secret) {
					t.Errorf("the output shows %q", secret)
				}
			}
		})
	}
}

func startDoctorEnv(t *testing.T, c *kubeCluster) *doctorEnv {
	t.Helper()
	dir := t.TempDir()
	c.must(t, asList(t, []map[string]any{namespace(doctorNS), namespace(doctorSystemNS)}), "apply", "-f", "-")
	t.Cleanup(func() {
		c.kubectl(t, nil, "delete", "namespace", doctorNS, "--wait=false")
		c.kubectl(t, nil, "delete", "mutatingwebhookconfiguration", "doctor-podidentity", "--ignore-not-found")
	})
	// The server reviews tokens as a service account allowed just that.
	c.must(t, nil, "create", "serviceaccount", "reviewer", "-n", doctorSystemNS)
	c.must(t, nil, "create", "clusterrolebinding", "doctor-reviewer", "--clusterrole", "system:auth-delegator",
		"--serviceaccount", doctorSystemNS+":reviewer")
	t.Cleanup(func() { c.kubectl(t, nil, "delete", "clusterrolebinding", "doctor-reviewer") })
	reviewerFile := filepath.Join(dir, "reviewer-token")
	os.WriteFile(reviewerFile, []byte(strings.TrimSpace(c.must(t, nil, "create", "token", "reviewer", "-n", doctorSystemNS, "--duration", "2h"))), 0o600)

	// Keys that did not sign the API server's tokens, as after a rebuild.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := tokenmint.NewSigner(key, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(signer.JWKS())
	jwksFile := filepath.Join(dir, "stale-jwks.json")
	os.WriteFile(jwksFile, jwks, 0o600)

	configFile := filepath.Join(dir, "podidentity.yaml")
	os.WriteFile(configFile, []byte(fmt.Sprintf(`
region: us-west-2
accountId: "%[1]s"
storage: sqlite://%[2]s
clusters:
  - {name: %[3]s, issuer: %[4]s, discovery: true, caFile: %[5]s, sharedIssuer: true, tokenReview: {apiServer: %[4]s, tokenFile: %[6]s}}
  - {name: %[7]s, issuer: %[4]s, jwksFile: %[8]s, sharedIssuer: true}
auth:
  principals:
    - {arn: "arn:aws:iam::%[1]s:user/doctor", accessKeyId: %[9]s, secretAccessKey: %[10]s, actions: ["eks:*", "eks-auth:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: debug, format: text}
`, accountID, filepath.Join(dir, "db.sqlite"), doctorCluster, c.URL, c.CAFile, reviewerFile, doctorStaleKeys, jwksFile,
		doctorAdmin.id, doctorAdmin.secret)), 0o600)
	e := &doctorEnv{kube: c}
	e.server = start(t, baseEnv(), "server", "--config", configFile, "--listen", "127.0.0.1:0")
	e.eks = eks.NewFromConfig(doctorAdmin.config(), func(o *eks.Options) { o.BaseEndpoint = aws.String(e.server.URL) })

	// The webhook, for this namespace only, as the chart registers it.
	ca, certFile, keyFile := webhookCert(t, dir)
	hook := start(t, append(baseEnv(), "AWS_ACCESS_KEY_ID="+doctorAdmin.id, "AWS_SECRET_ACCESS_KEY="+doctorAdmin.secret),
		"webhook", "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--bind-address", "127.0.0.1", "--port", "0",
		"--endpoint", e.server.URL, "--cluster-name", doctorCluster, "--region", "us-west-2", "--log-format", "text",
		"--negative-cache-ttl", "1ms")
	mwc, _ := json.Marshal(map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
		"metadata": map[string]any{"name": "doctor-podidentity"},
		"webhooks": []any{map[string]any{
			"name": "pod-identity.podidentity.io", "admissionReviewVersions": []any{"v1"}, "sideEffects": "None",
			"failurePolicy": "Ignore", "reinvocationPolicy": "IfNeeded",
			"clientConfig":      map[string]any{"url": hook.URL + "/mutate", "caBundle": base64.StdEncoding.EncodeToString(ca)},
			"rules":             []any{map[string]any{"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE"}, "resources": []any{"pods"}}},
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": doctorNS}},
		}},
	})
	c.must(t, mwc, "apply", "-f", "-")
	for _, sa := range []string{"app", "lonely", "late", "doomed"} {
		c.must(t, nil, "create", "serviceaccount", sa, "-n", doctorNS)
	}
	// Wait until the API server calls the webhook (it learns of the
	// configuration through a watch).
	e.associate(t, "probe")
	c.must(t, nil, "create", "serviceaccount", "probe", "-n", doctorNS)
	probe := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe","namespace":"` + doctorNS + `"},
		"spec":{"serviceAccountName":"probe","containers":[{"name":"c","image":"busybox"}]}}`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := c.kubectl(t, probe, "create", "--dry-run=server", "-o", "json", "-f", "-")
		if err == nil && strings.Contains(out, "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server does not call the doctor's webhook: %v\n%s", err, hook.Logs.String())
		}
	}
	return e
}

func (e *doctorEnv) associate(t *testing.T, sa string) { e.associateIn(t, doctorCluster, sa) }

func (e *doctorEnv) associateIn(t *testing.T, cluster, sa string) {
	t.Helper()
	_, err := e.eks.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(cluster), Namespace: aws.String(doctorNS), ServiceAccount: aws.String(sa), RoleArn: aws.String(appRole),
	})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation %s/%s: %v", doctorNS, sa, err)
	}
}

func (e *doctorEnv) createPod(t *testing.T, name, sa string, edit func(spec map[string]any)) {
	t.Helper()
	spec := map[string]any{"serviceAccountName": sa, "containers": []any{map[string]any{"name": "app", "image": "busybox"}}}
	if edit != nil {
		edit(spec)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "namespace": doctorNS}, "spec": spec})
	e.kube.must(t, b, "create", "-f", "-")
}

// doctor runs the binary as a user would: the admin's AWS keys in the
// environment, the kubeconfig of the cluster.
func (e *doctorEnv) doctor(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args = append([]string{"doctor", "--namespace", doctorNS, "--endpoint", e.server.URL, "--cluster-name", doctorCluster,
		"--kubeconfig", e.kube.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(baseEnv(), "AWS_ACCESS_KEY_ID="+doctorAdmin.id, "AWS_SECRET_ACCESS_KEY="+doctorAdmin.secret, "AWS_REGION=us-west-2")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("podidentity doctor: %v", err)
	}
	if exit != nil && exit.ExitCode() == 2 {
		t.Fatalf("podidentity doctor: usage error:\n%s", exit.Stderr)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
