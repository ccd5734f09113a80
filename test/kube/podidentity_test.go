package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	eksauthtypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden pods in testdata")

const (
	release   = "pi"
	systemNS  = "podidentity-system"
	appNS     = "team-a"
	accountID = "111122223333"
	// The server validates the one cluster's tokens twice over: "kube" asks
	// the API server about every token (TokenReview), "kube-signature" only
	// checks signature and claims against the keys from OIDC discovery.
	clusterReview    = "kube"
	clusterSignature = "kube-signature"
)

// Principals as the server will require them once SigV4 authentication
// lands: each client signs with the key of a principal allowed exactly what
// it calls.
var (
	admin   = principal{"AKIAPODIDENTITYADMIN", "admin-secret-access-key"}
	hook    = principal{"AKIAPODIDENTITYWEBHOOK", "webhook-secret-access-key"}
	node    = principal{"AKIAPODIDENTITYNODEAGENT", "node-secret-access-key"}
	appRole = "arn:aws:iam::" + accountID + ":role/app-role"
)

type principal struct{ id, secret string }

func (p principal) config() aws.Config {
	return aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider(p.id, p.secret, "")}
}

// stack is podidentity installed on the test cluster: the chart's objects
// applied for real, with the server and the webhook running as local
// processes in their stead (there is no kubelet to run them).
type stack struct {
	kube    *kubeCluster
	server  *process
	webhook *process
	eks     *eks.Client
	eksAuth *eksauth.Client
}

func TestPodIdentityOnKubernetes(t *testing.T) {
	c := startCluster(t)
	s := installStack(t, c)

	t.Run("ServerValidatesRealTokens", func(t *testing.T) { testRealTokens(t, s) })
	t.Run("WebhookMutatesPods", func(t *testing.T) { testWebhook(t, s) })
	t.Run("DeletedServiceAccountIsRefused", func(t *testing.T) { testDeletedServiceAccount(t, s) })
}

func installStack(t *testing.T, c *kubeCluster) *stack {
	t.Helper()
	dir := t.TempDir()
	s := &stack{kube: c}

	// The chart, rendered for this cluster, applied for real, except the
	// MutatingWebhookConfiguration: it must point at our local webhook.
	rendered, err := helm(t, "template", release, "deploy/helm/podidentity", "--namespace", systemNS,
		"--set", "clusterName="+clusterReview, "--set", "server.cluster.issuer="+c.URL,
		"--set", "webhook.certificate.certManager=false")
	if err != nil {
		t.Fatal(err)
	}
	var mwc map[string]any
	var objs []map[string]any
	for _, o := range splitYAML(t, rendered) {
		if o["kind"] == "MutatingWebhookConfiguration" {
			mwc = o
			continue
		}
		objs = append(objs, o)
	}
	if mwc == nil {
		t.Fatal("the chart renders no MutatingWebhookConfiguration")
	}
	c.must(t, asList(t, []map[string]any{namespace(systemNS), namespace(appNS)}), "apply", "-f", "-")
	c.must(t, asList(t, objs), "apply", "-f", "-")

	// TokenReview with the chart's service account proves the chart's RBAC
	// lets the server do exactly that.
	reviewer := strings.TrimSpace(c.must(t, nil, "create", "token", release+"-podidentity-server", "-n", systemNS, "--duration", "2h"))
	reviewerFile := filepath.Join(dir, "reviewer-token")
	if err := os.WriteFile(reviewerFile, []byte(reviewer), 0o600); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "podidentity.yaml")
	config := fmt.Sprintf(`
region: us-west-2
accountId: "%[1]s"
storage: sqlite://%[2]s
clusters:
  - name: %[3]s
    issuer: %[5]s
    discovery: true
    caFile: %[6]s
    tokenReview: {apiServer: %[5]s, tokenFile: %[7]s}
    sharedIssuer: true
  - name: %[4]s
    issuer: %[5]s
    discovery: true
    caFile: %[6]s
    sharedIssuer: true
auth:
  principals:
    - {arn: "arn:aws:iam::%[1]s:user/admin", accessKeyId: %[8]s, secretAccessKey: %[9]s, actions: ["eks:*"], clusters: ["*"], passRoles: ["*"]}
    - {arn: "arn:aws:iam::%[1]s:user/webhook", accessKeyId: %[10]s, secretAccessKey: %[11]s, actions: ["eks:ListPodIdentityAssociations"], clusters: ["*"]}
    - {arn: "arn:aws:iam::%[1]s:user/node", accessKeyId: %[12]s, secretAccessKey: %[13]s, actions: ["eks-auth:AssumeRoleForPodIdentity"], clusters: ["*"]}
log: {level: debug, format: text}
`, accountID, filepath.Join(dir, "podidentity.db"), clusterReview, clusterSignature, c.URL, c.CAFile, reviewerFile,
		admin.id, admin.secret, hook.id, hook.secret, node.id, node.secret)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.server = start(t, baseEnv(), "server", "--config", configFile, "--listen", "127.0.0.1:0")
	s.eks = eks.NewFromConfig(admin.config(), func(o *eks.Options) { o.BaseEndpoint = aws.String(s.server.URL) })
	s.eksAuth = eksauth.NewFromConfig(node.config(), func(o *eksauth.Options) { o.BaseEndpoint = aws.String(s.server.URL) })

	ca, certFile, keyFile := webhookCert(t, dir)
	s.webhook = start(t, append(baseEnv(), "AWS_ACCESS_KEY_ID="+hook.id, "AWS_SECRET_ACCESS_KEY="+hook.secret),
		"webhook", "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--bind-address", "127.0.0.1", "--port", "0",
		"--endpoint", s.server.URL, "--cluster-name", clusterReview, "--region", "us-west-2", "--log-format", "text")

	// The chart's webhook, pointed at the local process.
	hooks := mwc["webhooks"].([]any)
	hooks[0].(map[string]any)["clientConfig"] = map[string]any{
		"url":      s.webhook.URL + "/mutate",
		"caBundle": base64.StdEncoding.EncodeToString(ca),
	}
	c.must(t, asList(t, []map[string]any{mwc}), "apply", "-f", "-")

	for _, sa := range []string{"app", "doomed", "no-association"} {
		c.must(t, nil, "create", "serviceaccount", sa, "-n", appNS)
	}
	for _, cluster := range []string{clusterReview, clusterSignature} {
		for _, sa := range []string{"app", "doomed"} {
			s.associate(t, cluster, sa)
		}
	}
	s.waitForWebhook(t)
	return s
}

func namespace(name string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}
}

func (s *stack) associate(t *testing.T, cluster, sa string) {
	t.Helper()
	_, err := s.eks.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{
		ClusterName:    aws.String(cluster),
		Namespace:      aws.String(appNS),
		ServiceAccount: aws.String(sa),
		RoleArn:        aws.String(appRole),
	})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation %s %s/%s: %v", cluster, appNS, sa, err)
	}
}

// waitForWebhook waits until the API server calls the webhook: it learns of
// a new MutatingWebhookConfiguration through a watch, shortly after.
func (s *stack) waitForWebhook(t *testing.T) {
	t.Helper()
	probe := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe","namespace":"` + appNS + `"},
		"spec":{"serviceAccountName":"app","containers":[{"name":"c","image":"busybox"}]}}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.kube.kubectl(t, probe, "create", "--dry-run=server", "-o", "json", "-f", "-")
		if err == nil && strings.Contains(out, "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server does not call the webhook after 30s: %v\n%s\nwebhook logs:\n%s", err, out, s.webhook.Logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createPod creates a pod through the API server and returns it as stored.
func (s *stack) createPod(t *testing.T, manifest []byte) map[string]any {
	t.Helper()
	out := s.kube.must(t, manifest, "create", "-o", "json", "-f", "-")
	var pod map[string]any
	if err := json.Unmarshal([]byte(out), &pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// podToken asks the API server for a token bound to the pod, as the kubelet
// does for the projected volume.
func (s *stack) podToken(t *testing.T, sa string, pod map[string]any, audience string) string {
	t.Helper()
	meta := pod["metadata"].(map[string]any)
	return strings.TrimSpace(s.kube.must(t, nil, "create", "token", sa, "-n", appNS, "--audience", audience,
		"--bound-object-kind", "Pod", "--bound-object-name", meta["name"].(string),
		"--bound-object-uid", meta["uid"].(string), "--duration", "1h"))
}

func (s *stack) assume(cluster, token string) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.eksAuth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(cluster),
		Token:       aws.String(token),
	})
}

func simplePod(name, sa string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":%q},
		"spec":{"serviceAccountName":%q,"containers":[{"name":"app","image":"busybox"}]}}`, name, appNS, sa))
}

// (1) A token kube-apiserver issued, validated through its own OIDC
// discovery and JWKS (and TokenReview), buys credentials.
func testRealTokens(t *testing.T, s *stack) {
	pod := s.createPod(t, simplePod("token-pod", "app"))
	token := s.podToken(t, "app", pod, "pods.eks.amazonaws.com")

	for _, cluster := range []string{clusterReview, clusterSignature} {
		out, err := s.assume(cluster, token)
		if err != nil {
			t.Fatalf("AssumeRoleForPodIdentity (%s) with a token of the real API server: %v", cluster, err)
		}
		if got := aws.ToString(out.Subject.Namespace) + "/" + aws.ToString(out.Subject.ServiceAccount); got != appNS+"/app" {
			t.Errorf("%s: subject %s", cluster, got)
		}
		if aws.ToString(out.Audience) != "pods.eks.amazonaws.com" {
			t.Errorf("%s: audience %q", cluster, aws.ToString(out.Audience))
		}
		arn := aws.ToString(out.AssumedRoleUser.Arn)
		// The session name is eks-<cluster>-<pod>-<uuid>, cut to 64 characters.
		if !strings.HasPrefix(arn, "arn:aws:sts::"+accountID+":assumed-role/app-role/eks-kube") || !strings.Contains(arn, "-token-pod-") {
			t.Errorf("%s: assumed role ARN %q", cluster, arn)
		}
		if !strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA") || aws.ToString(out.Credentials.SessionToken) == "" {
			t.Errorf("%s: credentials %+v", cluster, out.Credentials)
		}
		if out.PodIdentityAssociation == nil || !strings.HasPrefix(aws.ToString(out.PodIdentityAssociation.AssociationId), "a-") {
			t.Errorf("%s: association %+v", cluster, out.PodIdentityAssociation)
		}
	}
	if !strings.Contains(s.server.Logs.String(), "fetched keys") {
		t.Error("the server logged no key fetch from the API server's discovery")
	}

	// The real API server's tokens that are not for us are refused.
	unbound := strings.TrimSpace(s.kube.must(t, nil, "create", "token", "app", "-n", appNS, "--audience", "pods.eks.amazonaws.com"))
	otherAudience := s.podToken(t, "app", pod, "sts.amazonaws.com")
	for name, tok := range map[string]string{"not bound to a pod": unbound, "audience": otherAudience} {
		_, err := s.assume(clusterReview, tok)
		var ite *eksauthtypes.InvalidTokenException
		if !errors.As(err, &ite) || !strings.Contains(aws.ToString(ite.Message), name) {
			t.Errorf("token refused for its %s: got %v", name, err)
		}
	}
}

// (2) With our MutatingWebhookConfiguration registered, a pod created via
// kubectl comes back with exactly the env, volume and mounts EKS gives, and
// a pod whose service account has no association is untouched.
func testWebhook(t *testing.T, s *stack) {
	for _, name := range []string{"pod-with-association", "pod-without-association"} {
		t.Run(name, func(t *testing.T) {
			manifest, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			pod := s.createPod(t, yamlToJSON(t, manifest))
			got := podInjection(t, pod)
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			var want any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("pod as created (-want +got):\n%s\nwebhook logs:\n%s", d, s.webhook.Logs.String())
			}
		})
	}
	// The golden files say what the pods must look like; say it in words too.
	with := s.kube.must(t, nil, "get", "pod", "web", "-n", appNS, "-o", "json")
	for _, want := range []string{
		`"name":"AWS_CONTAINER_CREDENTIALS_FULL_URI","value":"http://169.254.170.23/v1/credentials"`,
		`"name":"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE","value":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"`,
		`"audience":"pods.eks.amazonaws.com","expirationSeconds":7200,"path":"eks-pod-identity-token"`,
		`"mountPath":"/var/run/secrets/pods.eks.amazonaws.com/serviceaccount","name":"eks-pod-identity-token","readOnly":true`,
	} {
		if !strings.Contains(compactJSON(t, with), want) {
			t.Errorf("pod web lacks %s", want)
		}
	}
	without := s.kube.must(t, nil, "get", "pod", "batch", "-n", appNS, "-o", "json")
	if strings.Contains(without, "AWS_CONTAINER") || strings.Contains(without, "eks-pod-identity-token") {
		t.Errorf("a pod without association was mutated:\n%s", without)
	}

	// The webhook counted what the API server sent it (TLS to the webhook
	// itself is what the API server's own calls above proved).
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(s.webhook.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`podidentity_webhook_admissions_total{result="mutated"}`, `podidentity_webhook_admissions_total{result="no_association"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("webhook /metrics lacks %s", want)
		}
	}
}

// (3) Deleting the service account makes AssumeRoleForPodIdentity refuse
// its still-unexpired token when TokenReview is enabled; signature checks
// alone cannot notice.
func testDeletedServiceAccount(t *testing.T, s *stack) {
	pod := s.createPod(t, simplePod("doomed-pod", "doomed"))
	token := s.podToken(t, "doomed", pod, "pods.eks.amazonaws.com")
	for _, cluster := range []string{clusterReview, clusterSignature} {
		if _, err := s.assume(cluster, token); err != nil {
			t.Fatalf("before the deletion (%s): %v", cluster, err)
		}
	}
	s.kube.must(t, nil, "delete", "serviceaccount", "doomed", "-n", appNS)

	// TokenReview answers are reused for a few seconds (satoken's
	// tokenReviewTTL); well within this deadline the token must be refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.assume(clusterReview, token)
		var ite *eksauthtypes.InvalidTokenException
		if errors.As(err, &ite) {
			t.Logf("refused: %s", aws.ToString(ite.Message))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after its service account was deleted, the token still gets: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := s.assume(clusterSignature, token); err != nil {
		t.Errorf("without TokenReview the token is still valid by its signature, yet: %v", err)
	}
}

// podInjection is what a test compares of a created pod: each container's
// env and mounts, and the volumes, with the generated suffix of the
// kube-api-access volume made stable.
func podInjection(t *testing.T, pod map[string]any) any {
	t.Helper()
	spec := pod["spec"].(map[string]any)
	pick := func(field string) []any {
		var out []any
		list, _ := spec[field].([]any)
		for _, c := range list {
			c := c.(map[string]any)
			out = append(out, map[string]any{"name": c["name"], "env": c["env"], "volumeMounts": c["volumeMounts"]})
		}
		return out
	}
	b, err := json.Marshal(map[string]any{
		"initContainers": pick("initContainers"),
		"containers":     pick("containers"),
		"volumes":        spec["volumes"],
	})
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`kube-api-access-[a-z0-9]{5}`).ReplaceAll(b, []byte("kube-api-access-XXXXX"))
	var v any
	json.Unmarshal(b, &v)
	return v
}

func yamlToJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	objs := splitYAML(t, string(b))
	if len(objs) != 1 {
		t.Fatalf("want one object, got %d", len(objs))
	}
	out, err := json.Marshal(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// webhookCert makes a CA and a serving certificate for 127.0.0.1, as
// cert-manager would for the webhook's Service, and returns the CA (PEM)
// and the certificate and key files.
func webhookCert(t *testing.T, dir string) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "podidentity-webhook-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "podidentity-webhook"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "webhook.crt"), filepath.Join(dir, "webhook.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile
}
