package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/podidentity/podidentity/internal/testenv"
)

// readDoc returns a page of docs/.
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runDocScript runs a page's commands with bash in dir, as a user with
// kubectl pointed at the cluster does, and returns what they print. env
// adds to (or, for PATH, replaces) the environment; kubectl comes first on
// PATH either way.
func (c *kubeCluster) runDocScript(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	path := os.Getenv("PATH")
	var rest []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
			continue
		}
		rest = append(rest, kv)
	}
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append(baseEnv(), rest...), "KUBECONFIG="+c.Kubeconfig,
		"PATH="+filepath.Dir(tool.kubectl)+string(os.PathListSeparator)+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the documented commands:\n%s\n%v: %s%s", script, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestClusterKeysDoc runs docs/cluster-keys.md's commands as written
// against the real kube-apiserver, then starts the server with each source
// of keys the page documents (the JWKS file those commands wrote, OIDC
// discovery, the API server's own sa.pub PEM file) and exchanges a token
// the API server issued for a pod through each.
func TestClusterKeysDoc(t *testing.T) {
	c := startCluster(t)
	doc := readDoc(t, "cluster-keys.md")
	blocks := regexp.MustCompile("(?s)<!-- test/kube: TestClusterKeysDoc -->\n```sh\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) != 2 {
		t.Fatalf("docs/cluster-keys.md has %d blocks marked for this test, want 2 (JWKS file, discovery)", len(blocks))
	}
	dir := t.TempDir()
	var outputs []string
	for _, b := range blocks {
		outputs = append(outputs, c.runDocScript(t, dir, b[1]))
	}
	var discovered struct{ Issuer string }
	if err := json.Unmarshal([]byte(outputs[0]), &discovered); err != nil || discovered.Issuer != c.URL {
		t.Fatalf("the discovery document's issuer is %q (%v), want the API server's %s:\n%s", discovered.Issuer, err, c.URL, outputs[0])
	}
	jwks := filepath.Join(dir, "prod-jwks.json")
	if b, err := os.ReadFile(jwks); err != nil || !bytes.Contains(b, []byte(`"keys"`)) {
		t.Fatalf("the commands wrote no JWKS to prod-jwks.json: %v %s", err, b)
	}
	saPub := filepath.Join(c.dir, "pki", "sa.pub")
	if b, err := os.ReadFile(saPub); err != nil || !bytes.HasPrefix(b, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Fatalf("the API server's sa.pub is not a PEM public key: %v\n%s", err, b)
	}

	sources := map[string]string{
		"from-jwks-file": "jwksFile: " + jwks,
		"from-discovery": "discovery: true, caFile: " + c.CAFile,
		"from-sa-pub":    "jwksFile: " + saPub,
	}
	var clusters strings.Builder
	for name, source := range sources {
		fmt.Fprintf(&clusters, "  - {name: %s, issuer: %q, %s, sharedIssuer: true}\n", name, discovered.Issuer, source)
	}
	configFile := filepath.Join(dir, "podidentity.yaml")
	config := fmt.Sprintf(`accountId: "%[1]s"
storage: memory
clusters:
%[2]sauth:
  principals:
    - {arn: "arn:aws:iam::%[1]s:user/admin", accessKeyId: %[3]s, secretAccessKey: %[4]s, actions: ["eks:*"], clusters: ["*"], passRoles: ["*"]}
    - {arn: "arn:aws:iam::%[1]s:user/node", accessKeyId: %[5]s, secretAccessKey: %[6]s, actions: ["eks-auth:AssumeRoleForPodIdentity"], clusters: ["*"]}
`, accountID, clusters.String(), admin.id, admin.secret, node.id, node.secret)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, baseEnv(), "server", "--config", configFile, "--listen", "127.0.0.1:0")
	eksClient := eks.NewFromConfig(admin.config(), func(o *eks.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	authClient := eksauth.NewFromConfig(node.config(), func(o *eksauth.Options) { o.BaseEndpoint = aws.String(srv.URL) })

	const ns = "cluster-keys-doc"
	c.must(t, asList(t, []map[string]any{namespace(ns)}), "apply", "-f", "-")
	c.must(t, nil, "create", "serviceaccount", "app", "-n", ns)
	var pod map[string]any
	if err := json.Unmarshal([]byte(c.must(t, simplePodIn(ns, "web-0"), "create", "-o", "json", "-f", "-")), &pod); err != nil {
		t.Fatal(err)
	}
	meta := pod["metadata"].(map[string]any)
	token := strings.TrimSpace(c.must(t, nil, "create", "token", "app", "-n", ns, "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", "web-0", "--bound-object-uid", meta["uid"].(string), "--duration", "1h"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name := range sources {
		if _, err := eksClient.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String(name), Namespace: aws.String(ns), ServiceAccount: aws.String("app"), RoleArn: aws.String(appRole),
		}); err != nil {
			t.Fatalf("CreatePodIdentityAssociation on %s: %v", name, err)
		}
		out, err := authClient.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
			ClusterName: aws.String(name), Token: aws.String(token),
		})
		if err != nil {
			t.Errorf("a token of the real API server, keys %s: %v", sources[name], err)
			continue
		}
		if got := aws.ToString(out.Subject.Namespace) + "/" + aws.ToString(out.Subject.ServiceAccount); got != ns+"/app" {
			t.Errorf("%s: subject %s, want %s/app", name, got, ns)
		}
	}
}

// TestWebhookDoc: the MutatingWebhookConfiguration docs/webhook.md shows is
// one the real API server accepts, it is the chart's (path, rules,
// policies), and `podidentity webhook` serves AdmissionReviews on its path.
func TestWebhookDoc(t *testing.T) {
	c := startCluster(t)
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: admissionregistration.*?)```").FindStringSubmatch(readDoc(t, "webhook.md"))
	if m == nil {
		t.Fatal("docs/webhook.md has no MutatingWebhookConfiguration")
	}
	var mwc map[string]any
	if err := yaml.Unmarshal([]byte(m[1]), &mwc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, certFile, keyFile := webhookCert(t, dir)
	docHook := dig(mwc, "webhooks", 0).(map[string]any)
	docHook["clientConfig"].(map[string]any)["caBundle"] = base64.StdEncoding.EncodeToString(ca)
	c.must(t, asList(t, []map[string]any{mwc}), "apply", "--dry-run=server", "-f", "-")

	rendered, err := helm(t, "template", "podidentity", "deploy/helm/podidentity", "--namespace", "podidentity",
		"--set", "clusterName=prod", "--set", "webhook.certificate.certManager=false")
	if err != nil {
		t.Fatal(err)
	}
	var chartHook map[string]any
	for _, o := range splitYAML(t, rendered) {
		if o["kind"] == "MutatingWebhookConfiguration" {
			chartHook = dig(o, "webhooks", 0).(map[string]any)
		}
	}
	if chartHook == nil {
		t.Fatal("the chart renders no MutatingWebhookConfiguration")
	}
	for _, key := range []string{"name", "admissionReviewVersions", "sideEffects", "failurePolicy", "reinvocationPolicy",
		"matchPolicy", "timeoutSeconds", "rules", "namespaceSelector"} {
		if diff := cmp.Diff(chartHook[key], docHook[key]); diff != "" {
			t.Errorf("docs/webhook.md's %s differs from the chart's (-chart +doc):\n%s", key, diff)
		}
	}
	for _, key := range []string{"path", "port"} {
		if got, want := dig(docHook, "clientConfig", "service", key), dig(chartHook, "clientConfig", "service", key); got != want {
			t.Errorf("docs/webhook.md's clientConfig.service.%s is %v, the chart's %v", key, got, want)
		}
	}

	srv := start(t, baseEnv(), "server", "--dev", "--listen", "127.0.0.1:0")
	hook := start(t, append(baseEnv(), "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=dev"),
		"webhook", "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--bind-address", "127.0.0.1", "--port", "0",
		"--endpoint", srv.URL, "--cluster-name", "demo", "--region", "us-west-2")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"doc-test-uid",
		"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
		"namespace":"default","operation":"CREATE","object":` + string(simplePodIn("default", "web-0")) + `}}`)
	path := dig(docHook, "clientConfig", "service", "path").(string)
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"POST", path, 200}, {"GET", path, 405}, {"POST", "/", 404}, {"POST", "/mutate-pods", 404}} {
		req, _ := http.NewRequest(tc.method, hook.URL+tc.path, bytes.NewReader(review))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %s, want %d: %s", tc.method, tc.path, resp.Status, tc.want, body.String())
		}
		if tc.want == 200 && !strings.Contains(body.String(), `"uid":"doc-test-uid"`) {
			t.Errorf("%s %s answered no AdmissionReview response: %s", tc.method, tc.path, body.String())
		}
	}
}

// TestMigrationDoc applies the objects docs/migrate-from-irsa.md shows (as
// they were under IRSA and kube2iam/kiam) to the real API server, runs its
// commands as written against it and a podidentity server, and checks what
// they leave: the association, the service account without IRSA's
// annotation, the Deployment's pod template marked for a restart.
func TestMigrationDoc(t *testing.T) {
	c := startCluster(t)
	awsCLI := testenv.LookPath(t, "aws")
	doc := readDoc(t, "migrate-from-irsa.md")
	objects := regexp.MustCompile("(?s)<!-- test/kube: TestMigrationDoc -->\n```yaml\n(.*?)```").FindStringSubmatch(doc)
	script := regexp.MustCompile("(?s)<!-- test/kube: TestMigrationDoc -->\n```sh\n(.*?)```").FindStringSubmatch(doc)
	if objects == nil || script == nil {
		t.Fatal("docs/migrate-from-irsa.md lost its blocks marked for this test (yaml objects, sh commands)")
	}
	c.must(t, asList(t, splitYAML(t, objects[1])), "apply", "-f", "-")
	irsaRole := `jsonpath={.metadata.annotations.eks\.amazonaws\.com/role-arn}`
	if got := c.must(t, nil, "-n", "shop", "get", "serviceaccount", "cart", "-o", irsaRole); got == "" {
		t.Fatal("the IRSA service account lacks its annotation before the move")
	}

	dir := t.TempDir()
	configFile := filepath.Join(dir, "podidentity.yaml")
	config := fmt.Sprintf(`accountId: "111122223333"
storage: memory
clusters:
  - {name: prod, issuer: %q, discovery: true, caFile: %s}
auth:
  principals:
    - {arn: "arn:aws:iam::111122223333:user/admin", accessKeyId: %s, secretAccessKey: %s, actions: ["eks:*"], clusters: ["*"], passRoles: ["*"]}
`, c.URL, c.CAFile, admin.id, admin.secret)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := start(t, baseEnv(), "server", "--config", configFile, "--listen", "127.0.0.1:0")

	c.runDocScript(t, dir, script[1], "PODIDENTITY="+srv.URL, "AWS_ACCESS_KEY_ID="+admin.id,
		"AWS_SECRET_ACCESS_KEY="+admin.secret, "AWS_DEFAULT_REGION=us-west-2", "PATH="+filepath.Dir(awsCLI)+string(os.PathListSeparator)+os.Getenv("PATH"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := eks.NewFromConfig(admin.config(), func(o *eks.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	list, err := client.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("prod")})
	if err != nil || len(list.Associations) != 1 || aws.ToString(list.Associations[0].ServiceAccount) != "cart" ||
		aws.ToString(list.Associations[0].Namespace) != "shop" {
		t.Errorf("after the commands, the associations of prod are %+v (%v), want shop/cart", list, err)
	}
	if got := c.must(t, nil, "-n", "shop", "get", "serviceaccount", "cart", "-o", irsaRole); got != "" {
		t.Errorf("the service account keeps IRSA's annotation: %s", got)
	}
	if got := c.must(t, nil, "-n", "shop", "get", "deployment", "cart", "-o", "jsonpath={.spec.template.metadata.annotations}"); !strings.Contains(got, "kubectl.kubernetes.io/restartedAt") {
		t.Errorf("the Deployment was not restarted: template annotations %s", got)
	}
}
