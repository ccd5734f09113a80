package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/store/pgtest"
	"github.com/podidentity/podidentity/internal/testenv"
)

// The addresses docs/install.md gives for a cluster without Service DNS,
// which is what hack/node-up.sh makes.
const (
	serverURL   = "http://10.96.0.80:8080"
	clusterName = "my-cluster"
	roleARN     = "arn:aws:iam::123456789012:role/my-app"
)

var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}()

// TestInstallOnARealNode is the main use case, as a new user meets it: the
// install guide's commands on an empty cluster, then pods.
func TestInstallOnARealNode(t *testing.T) {
	n := startNode(t)

	// docs/install.md, steps 1 to 4, as one script: its exports carry from
	// block to block as they would in the user's shell, and the
	// port-forward it starts lives on for the checks below.
	steps, upgrade := installSteps(t)
	start := time.Now()
	n.script(t, "install", strings.Join(steps, "\n"))
	t.Logf("install guide steps 1-4 ran in %s", time.Since(start).Round(time.Second))

	// Ready through their probes: --wait saw it; say it again per part.
	for _, sel := range []string{"server", "webhook", "agent"} {
		n.kubectl(t, "-n", "podidentity", "wait", "--for=condition=Ready", "pod",
			"-l", "app.kubernetes.io/component="+sel, "--timeout=60s")
	}
	if out := run(t, nil, "ip", "addr", "show"); !strings.Contains(out, "inet 169.254.170.23/32") {
		t.Errorf("the agent's init container did not put 169.254.170.23 on the node:\n%s", out)
	} else if strings.Contains(run(t, nil, "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"), "0") &&
		!strings.Contains(out, "inet6 fd00:ec2::23/128") {
		t.Errorf("IPv6 is on, but fd00:ec2::23 is not on the node:\n%s", out)
	}

	// A workload created after the association: mutated by our webhook
	// through the API server, its token projected by the kubelet, its
	// credentials from our agent on 169.254.170.23, and the server says
	// who it is.
	n.kubectl(t, "create", "serviceaccount", "my-app")
	n.kubectl(t, "create", "serviceaccount", "no-association")
	n.waitUntilMutated(t, `apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: default}
spec:
  serviceAccountName: my-app
  containers: [{name: c, image: podidentity.test/whoami:1}]
`, "http://169.254.170.23/v1/credentials")
	got := n.whoami(t, "with-association", "default", "my-app")
	if got.Error != "" {
		t.Fatalf("the pod of my-app got no identity: %s", got.Error)
	}
	wantARN := regexp.MustCompile(`^arn:aws:sts::123456789012:assumed-role/my-app/eks-my-cluster-with-associ[a-z-]*-[0-9a-f]{8}-[0-9a-f-]{27}$`)
	if !wantARN.MatchString(got.Arn) || got.Source != "CredentialsEndpointProvider" {
		t.Errorf("GetCallerIdentity in the pod = %+v; want the association's role with the pod's session, from the container endpoint", got)
	}
	pod := n.podJSON(t, "with-association")
	for _, want := range []string{"http://169.254.170.23/v1/credentials", "eks-pod-identity-token", "pods.eks.amazonaws.com"} {
		if !strings.Contains(pod, want) {
			t.Errorf("the mutated pod lacks %q", want)
		}
	}

	// A service account without an association: untouched, no credentials.
	other := n.whoami(t, "without-association", "default", "no-association")
	if other.Error == "" || other.AccessKeyID != "" {
		t.Errorf("the pod of a service account without association got credentials: %+v", other)
	}
	if pod := n.podJSON(t, "without-association"); strings.Contains(pod, "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
		t.Error("the webhook mutated a pod whose service account has no association")
	}

	// Deleting the association: new pods get nothing (the server's lookup
	// cache lasts a second; the webhook's may still inject the variables,
	// but the agent gets no credentials for them).
	n.script(t, "delete association", `
id=$(aws eks list-pod-identity-associations --cluster-name my-cluster --query 'associations[0].associationId' --output text)
aws eks delete-pod-identity-association --cluster-name my-cluster --association-id "$id"`)
	time.Sleep(1500 * time.Millisecond)
	gone := n.whoami(t, "after-delete", "default", "my-app")
	if gone.Error == "" || gone.AccessKeyID != "" {
		t.Errorf("a pod created after the association was deleted got credentials: %+v", gone)
	}

	// The server knows which node asked: the agent sends its node's name.
	if logs := n.kubectl(t, "-n", "podidentity", "logs", "deploy/podidentity-server"); !strings.Contains(logs, `"node":"podidentity-node"`) {
		t.Errorf("the server's credentials-issued lines do not name the node:\n%s", logs)
	}

	// docs/install.md step 6: two replicas on PostgreSQL keep serving. The
	// database listens on the node's bridge address, where pods reach it.
	pg := pgtest.Start(t)
	pg.AllowFrom(t, "10.217.0.1", "10.217.0.0/24")
	db := strings.TrimPrefix(mustParseURL(t, pg.NewDatabase(t)).Path, "/")
	upgrade = strings.NewReplacer(
		"password='...'", "password='"+pg.Password()+"'",
		"postgres://podidentity@db.example:5432/podidentity?sslmode=verify-full",
		fmt.Sprintf("postgres://postgres@10.217.0.1:%d/%s?sslmode=disable", pg.Port(), db),
	).Replace(upgrade)
	n.script(t, "upgrade to PostgreSQL", upgrade)
	if ready := n.kubectl(t, "-n", "podidentity", "get", "deployment", "podidentity-server", "-o", "jsonpath={.status.readyReplicas}"); ready != "2" {
		t.Errorf("%s server replicas ready after the upgrade, want 2", ready)
	}
	// The port-forward went with the old pod: the Service's address, as
	// pods use it, from the node.
	n.script(t, "association on PostgreSQL", `
export AWS_ENDPOINT_URL_EKS=`+serverURL+`
aws eks create-pod-identity-association --cluster-name my-cluster \
    --namespace default --service-account my-app --role-arn arn:aws:iam::123456789012:role/my-app`)
	if got := n.whoami(t, "on-postgres", "default", "my-app"); got.Error != "" || !strings.Contains(got.Arn, "assumed-role/my-app/") {
		t.Errorf("a pod after the upgrade to PostgreSQL: %+v, want the role's credentials", got)
	}

	// Pattern associations (docs/patterns.md), opted into with the chart's
	// extraConfig: one association for every service account of the team-*
	// namespaces. The webhook resolves it for a pod through the API server,
	// the kubelet projects the token and the agent gets the pattern's role.
	n.script(t, "pattern association", `
helm upgrade podidentity deploy/helm/podidentity --namespace podidentity --reuse-values --wait \
    --set server.extraConfig.associations.patterns=true
export AWS_ENDPOINT_URL_EKS=`+serverURL+`
aws eks create-pod-identity-association --cluster-name my-cluster \
    --namespace 'team-*' --service-account '*' --role-arn arn:aws:iam::123456789012:role/team
kubectl create namespace team-a
kubectl -n team-a create serviceaccount builder`)
	// Replicas see a new association within a second, and the webhook
	// remembers "none" for two: wait until a pod would be mutated.
	n.waitUntilMutated(t, `apiVersion: v1
kind: Pod
metadata: {name: pattern-probe, namespace: team-a}
spec:
  serviceAccountName: builder
  containers: [{name: c, image: podidentity.test/whoami:1}]
`, "http://169.254.170.23/v1/credentials")
	if got := n.whoami(t, "through-pattern", "team-a", "builder"); got.Error != "" || !strings.Contains(got.Arn, "assumed-role/team/") {
		t.Errorf("a pod of team-a/builder: %+v, want the pattern association's role", got)
	}
	if pod := n.kubectl(t, "-n", "team-a", "get", "pod", "through-pattern", "-o", "json"); !strings.Contains(pod, "http://169.254.170.23/v1/credentials") {
		t.Error("the webhook did not mutate a pod whose service account only a pattern association covers")
	}

	n.sidecarDelivery(t)
}

// sidecarDelivery: docs/install.md "Without the node agent". The webhook
// injects the agent as a native sidecar into a pod that asks for it; the
// sidecar, with no node credentials, gets the pod's credentials from the
// server with unsigned calls the server authenticates by the pod's token
// (podTokenAuth, TokenReview). default/my-app has an association here.
func (n *testNode) sidecarDelivery(t *testing.T) {
	t.Helper()
	n.script(t, "sidecar delivery", `
helm upgrade podidentity deploy/helm/podidentity --namespace podidentity --reuse-values --wait \
    --set webhook.sidecar.enabled=true`)
	// The webhook's pods were replaced: wait until the API server reaches
	// one that injects sidecars (a server-side dry run is admitted like a
	// create), or the pod would be admitted unmutated (failurePolicy Ignore).
	n.waitUntilMutated(t, `apiVersion: v1
kind: Pod
metadata: {name: sidecar-probe, namespace: default, annotations: {podidentity.io/delivery: sidecar}}
spec:
  serviceAccountName: my-app
  containers: [{name: c, image: podidentity.test/whoami:1}]
`, "podidentity-agent")
	start := time.Now()
	got := n.whoamiAnnotated(t, "with-sidecar", "default", "my-app", "podidentity.io/delivery: sidecar")
	elapsed := time.Since(start)
	if got.Error != "" || !strings.Contains(got.Arn, "assumed-role/my-app/") || got.Source != "CredentialsEndpointProvider" {
		t.Fatalf("the pod with a sidecar: %+v, want the role's credentials from the container endpoint", got)
	}
	pod := n.podJSON(t, "with-sidecar")
	for _, want := range []string{`"value": "http://127.0.0.1:2723/v1/credentials"`, `"name": "podidentity-agent"`, `"restartPolicy": "Always"`, "eks-pod-identity-token"} {
		if !strings.Contains(pod, want) {
			t.Errorf("the pod with a sidecar lacks %s", want)
		}
	}
	if strings.Contains(pod, "169.254.170.23") {
		t.Error("the pod with a sidecar was also pointed at the node agent")
	}
	times := n.kubectl(t, "get", "pod", "with-sidecar", "-o",
		`jsonpath=sidecar started {.status.initContainerStatuses[0].state.*.startedAt}, app started {.status.containerStatuses[0].state.terminated.startedAt}, app done {.status.containerStatuses[0].state.terminated.finishedAt}`)
	t.Logf("sidecar pod: created to credentials printed in %s (%s)", elapsed.Round(100*time.Millisecond), times)

	// The sidecar's footprint: a long-running pod, its sidecar's RSS idle
	// and after serving distinct tokens (bound to the pod, as the kubelet
	// projects them).
	n.kubectlStdin(t, `apiVersion: v1
kind: Pod
metadata: {name: sidecar-idle, namespace: default, annotations: {podidentity.io/delivery: sidecar}}
spec:
  serviceAccountName: my-app
  containers:
    - {name: app, image: "podidentity.test/pause:1", imagePullPolicy: Never, command: [/pause]}
`, "apply", "-f", "-")
	n.kubectl(t, "wait", "--for=condition=Ready", "pod/sidecar-idle", "--timeout=60s")
	uid := strings.TrimSpace(n.kubectl(t, "get", "pod", "sidecar-idle", "-o", "jsonpath={.metadata.uid}"))
	pid := ""
	for _, p := range strings.Fields(run(t, nil, "pgrep", "-f", "agent --pod-token-auth")) {
		if env, err := os.ReadFile("/proc/" + p + "/environ"); err == nil && strings.Contains(string(env), "HOSTNAME=sidecar-idle") {
			pid = p
		}
	}
	if pid == "" {
		t.Fatal("no sidecar process of pod sidecar-idle")
	}
	rss := func() string {
		b, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(regexp.MustCompile(`(?m)^(VmRSS|VmHWM):\s+(.*)$`).FindAllString(string(b), -1), ", ")
	}
	idle := rss()
	const tokens, each = 20, 10
	served := 0
	for i := range tokens {
		tok := strings.TrimSpace(n.kubectl(t, "create", "token", "my-app", "--audience", "pods.eks.amazonaws.com",
			"--bound-object-kind", "Pod", "--bound-object-name", "sidecar-idle", "--bound-object-uid", uid, "--duration", fmt.Sprintf("%ds", 3600+i)))
		for range each {
			out := run(t, nil, "nsenter", "-t", pid, "-n", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
				"-H", "Authorization: "+tok, "http://127.0.0.1:2723/v1/credentials")
			if out == "200" {
				served++
			}
		}
	}
	if served != tokens*each {
		t.Errorf("the sidecar served %d of %d requests", served, tokens*each)
	}
	t.Logf("sidecar RSS idle: %s; after %d requests with %d tokens: %s", idle, tokens*each, tokens, rss())
	// Its credential port is on loopback only: from the node, the pod's IP
	// does not answer it.
	ip := strings.TrimSpace(n.kubectl(t, "get", "pod", "sidecar-idle", "-o", "jsonpath={.status.podIP}"))
	if out, err := exec.Command("curl", "-s", "-m", "2", "http://"+ip+":2723/v1/credentials").CombinedOutput(); err == nil {
		t.Errorf("the sidecar's credential port answers on the pod IP: %s", out)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// installSteps returns the blocks docs/install.md marks for this test, in
// order, and the PostgreSQL upgrade block, after checking that the install
// command for clusters without Service DNS is the ordinary one plus its
// addresses, so the two cannot drift apart.
func installSteps(t *testing.T) (steps []string, upgrade string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- test/node(:[a-z]+)? -->\n```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	var withDNS string
	for _, b := range blocks {
		switch b[1] {
		case ":dns":
			withDNS = b[2]
		case ":postgres":
			upgrade = b[2]
		default:
			steps = append(steps, b[2])
		}
	}
	if len(steps) < 5 || withDNS == "" || upgrade == "" {
		t.Fatalf("docs/install.md marks %d blocks for this test (DNS install %t, PostgreSQL %t); the markers are broken",
			len(steps), withDNS != "", upgrade != "")
	}
	found := false
	for _, s := range steps {
		if strings.HasPrefix(s, strings.TrimSuffix(withDNS, "\n")+" \\\n") {
			found = true
		}
	}
	if !found {
		t.Errorf("docs/install.md: the install without Service DNS is not the ordinary install command plus addresses:\n%s", withDNS)
	}
	return steps, upgrade
}

type identity struct {
	Arn         string `json:"arn"`
	AccessKeyID string `json:"accessKeyId"`
	Source      string `json:"source"`
	Error       string `json:"error"`
}

// whoami runs the workload image as a pod of serviceAccount in namespace
// and returns what it printed.
func (n *testNode) whoami(t *testing.T, name, namespace, serviceAccount string) identity {
	t.Helper()
	return n.whoamiAnnotated(t, name, namespace, serviceAccount, "")
}

// whoamiAnnotated is whoami for a pod with annotations (a YAML flow map's
// contents).
func (n *testNode) whoamiAnnotated(t *testing.T, name, namespace, serviceAccount, annotations string) identity {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, annotations: {%s}}
spec:
  serviceAccountName: %s
  restartPolicy: Never
  containers:
    - name: whoami
      image: podidentity.test/whoami:1
      imagePullPolicy: Never
      env:
        - {name: AWS_REGION, value: us-west-2}
        # Not an EC2 instance: no waiting on IMDS when there is nothing else.
        - {name: AWS_EC2_METADATA_DISABLED, value: "true"}
        - {name: AWS_ENDPOINT_URL_STS, value: %q}
`, name, namespace, annotations, serviceAccount, serverURL)
	n.kubectlStdin(t, manifest, "apply", "-f", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		phase := strings.TrimSpace(n.kubectl(t, "-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}"))
		if phase == "Succeeded" || phase == "Failed" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s still %q after 90 s:\n%s", name, phase, n.kubectl(t, "-n", namespace, "describe", "pod", name))
		case <-time.After(500 * time.Millisecond):
		}
	}
	logs := n.kubectl(t, "-n", namespace, "logs", name, "-c", "whoami")
	var id identity
	if err := json.Unmarshal([]byte(logs), &id); err != nil {
		t.Fatalf("pod %s printed %q: %v", name, logs, err)
	}
	t.Logf("pod %s/%s (service account %s): %+v", namespace, name, serviceAccount, id)
	return id
}

// waitUntilMutated dry-runs the pod manifest on the server until the
// admitted pod contains want (the webhook's mark), for up to a minute.
func (n *testNode) waitUntilMutated(t *testing.T, manifest, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := exec.Command("kubectl", "create", "--dry-run=server", "-o", "json", "-f", "-")
		cmd.Env, cmd.Stdin = n.env, strings.NewReader(manifest)
		out, err := cmd.CombinedOutput()
		if err == nil && strings.Contains(string(out), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook does not mutate after a minute (want %q): %v\n%s", want, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (n *testNode) podJSON(t *testing.T, name string) string {
	return n.kubectl(t, "get", "pod", name, "-o", "json")
}

// testNode is a node brought up by hack/node-up.sh for one test.
type testNode struct {
	dir string
	env []string // KUBECONFIG, CONTAINERD_ADDRESS, PATH with the tools
}

func startNode(t *testing.T) *testNode {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (a kubelet and containerd)")
	}
	for _, tool := range []string{"containerd", "runc", "ctr", "iptables", "ip", "openssl", "aws", "make"} {
		testenv.LookPath(t, tool)
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testenv.Missing(t, "the CNI plugins in /usr/lib/cni (containernetworking-plugins)")
	}
	tools := kubeTools(t)
	work := t.TempDir()
	dir := filepath.Join(work, "node") // node-up wants a new directory
	n := &testNode{dir: dir}
	path := filepath.Dir(tools["KUBECTL"]) + ":" + filepath.Dir(tools["HELM"]) + ":" + os.Getenv("PATH")
	n.env = append(os.Environ(), "PATH="+path, "KUBECONFIG="+filepath.Join(dir, "kubeconfig"),
		"CONTAINERD_ADDRESS="+filepath.Join(dir, "containerd", "containerd.sock"))
	for k, v := range tools {
		n.env = append(n.env, k+"="+v)
	}
	n.env = append(n.env, "NO_PROXY=127.0.0.1,localhost,10.217.0.0/24,10.96.0.0/24", "no_proxy=127.0.0.1,localhost,10.217.0.0/24,10.96.0.0/24")

	// The workload: an aws-sdk-go-v2 program, in an image built as ours is.
	whoami := filepath.Join(work, "whoami")
	run(t, append(n.env, "CGO_ENABLED=0"), "go", "build", "-trimpath", "-o", whoami, "./test/node/whoami")
	run(t, n.env, "go", "run", "./hack/image", "--binary", whoami, "--binary-path", "/whoami",
		"--arch", runtime.GOARCH, "--ref", "podidentity.test/whoami:1", "--out", whoami+".tar")

	// The install guide's kubeadm volume lives in /var/lib/podidentity.
	_, statErr := os.Stat("/var/lib/podidentity")
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err == nil && t.Failed() {
			n.dumpLogs(t)
		}
		out, err := exec.Command("bash", filepath.Join(repoRoot, "hack", "node-down.sh"), dir).CombinedOutput()
		if err != nil {
			t.Errorf("node-down: %v\n%s", err, out)
		}
		if os.IsNotExist(statErr) {
			os.RemoveAll("/var/lib/podidentity")
		}
	})
	start := time.Now()
	run(t, n.env, "bash", filepath.Join(repoRoot, "hack", "node-up.sh"), dir, whoami+".tar")
	t.Logf("node up in %s", time.Since(start).Round(100*time.Millisecond))
	return n
}

// kubeTools are the Kubernetes binaries, from the environment (.ci/setup.d
// exports them) or where hack/kube-build.sh caches them.
func kubeTools(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(repoRoot, "hack", "kube-build.sh"), "--print-env").Output()
	if err != nil {
		t.Fatalf("kube-build.sh --print-env: %v", err)
	}
	tools := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if env := os.Getenv(k); env != "" {
			v = env
		}
		if _, err := os.Stat(v); err != nil {
			testenv.Missing(t, k+" ("+v+"; run hack/kube-build.sh)")
		}
		tools[k] = v
	}
	return tools
}

// script runs a bash script as the install guide's reader would, in the
// repository, with `sudo` a no-op when there is none (CI runs as root).
// Its process group (a port-forward it leaves running) is ended with the
// test.
func (n *testNode) script(t *testing.T, what, body string) {
	t.Helper()
	prelude := "set -euo pipefail\ncommand -v sudo >/dev/null || sudo() { \"$@\"; }\n"
	if n.envFile() != "" {
		prelude += "source " + n.envFile() + "\n"
	}
	// The exports of one script are saved for the next.
	body = prelude + body + "\nexport -p >" + filepath.Join(n.dir, "script.env") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", body)
	cmd.Dir = repoRoot
	cmd.Env = n.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: what the script leaves running in the background
	// keeps its output open, and Run would wait for that.
	out, err := os.CreateTemp(n.dir, "script-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	pgid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGTERM) })
	text, _ := os.ReadFile(out.Name())
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, text)
	}
	t.Logf("%s:\n%s", what, text)
}

func (n *testNode) envFile() string {
	p := filepath.Join(n.dir, "script.env")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func (n *testNode) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, n.env, "kubectl", args...)
}

func (n *testNode) kubectlStdin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = n.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dumpLogs shows what a failed run needs: the pods, their events and the
// podidentity components' logs, and the tail of each node process's log.
func (n *testNode) dumpLogs(t *testing.T) {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", "podidentity", "logs", "-l", "app.kubernetes.io/name=podidentity", "--all-containers", "--tail=50", "--prefix"},
	} {
		cmd := exec.Command("kubectl", args...)
		cmd.Env = n.env
		out, _ := cmd.CombinedOutput()
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	}
	logs, _ := filepath.Glob(filepath.Join(n.dir, "*.log"))
	for _, l := range logs {
		out, _ := exec.Command("tail", "-n", "20", l).CombinedOutput()
		t.Logf("%s:\n%s", filepath.Base(l), out)
	}
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
