package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/agent"
)

// TestAgentPodCheck runs the agent's pod check (agent.APIServerPods) against
// the real kube-apiserver, authenticated as the chart's agent
// ServiceAccount with a token the API server issued, and authorized by the
// RBAC the chart renders (agent.checkPods) and nothing else: a pod is alive
// while it exists, gone once deleted, and gone for its old UID once its
// name is reused. Before the binding is applied the check is refused (403),
// which must read as "cannot tell", never as "gone".
func TestAgentPodCheck(t *testing.T) {
	c := startCluster(t)
	const ns, checkNS = "podcheck-system", "podcheck"

	rendered, err := helm(t, "template", "pc", "deploy/helm/podidentity", "--namespace", ns, "--set", "clusterName=demo")
	if err != nil {
		t.Fatal(err)
	}
	var account string
	var sa, rbac []map[string]any
	for _, o := range splitYAML(t, rendered) {
		name, _ := dig(o, "metadata", "name").(string)
		switch {
		case o["kind"] == "ServiceAccount" && strings.HasSuffix(name, "-agent"):
			account, sa = name, append(sa, o)
		case (o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding") && strings.HasSuffix(name, "agent:get-pods"):
			rbac = append(rbac, o)
		}
	}
	if account == "" || len(rbac) != 2 {
		t.Fatalf("the chart renders agent ServiceAccount %q and %d get-pods RBAC objects, want one and 2", account, len(rbac))
	}
	c.must(t, asList(t, append([]map[string]any{namespace(ns), namespace(checkNS)}, sa...)), "apply", "-f", "-")
	c.must(t, nil, "create", "serviceaccount", "app", "-n", checkNS)
	token := strings.TrimSpace(c.must(t, nil, "create", "token", account, "-n", ns, "--duration", "1h"))
	pods := &agent.APIServerPods{URL: c.URL, Client: apiClient(t, c.CAFile, token)}

	createPod := func() string {
		t.Helper()
		out := c.must(t, simplePodIn(checkNS, "web-0"), "create", "-o", "json", "-f", "-")
		var pod struct {
			Metadata struct{ UID string } `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(out), &pod); err != nil || pod.Metadata.UID == "" {
			t.Fatalf("created pod: %v %s", err, out)
		}
		return pod.Metadata.UID
	}
	check := func(uid string) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return pods.PodGone(ctx, checkNS, "web-0", uid)
	}
	expect := func(what, uid string, want bool) {
		t.Helper()
		if gone, err := check(uid); err != nil || gone != want {
			t.Errorf("%s: PodGone = %v, %v; want %v", what, gone, err, want)
		}
	}

	first := createPod()
	if gone, err := check(first); gone || err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("without the chart's binding: PodGone = %v, %v; want an error (403), not gone", gone, err)
	}

	c.must(t, asList(t, rbac), "apply", "-f", "-")
	// The API server's authorizer learns of the binding through a watch.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := check(first); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the chart's RBAC does not let the agent get pods after 30s: %v\n%s", err, c.logs())
		}
	}
	expect("pod exists", first, false)
	expect("another UID than the pod's", "00000000-0000-0000-0000-000000000000", true)

	// Never scheduled (no kubelet), so deleted at once.
	c.must(t, nil, "delete", "pod", "web-0", "-n", checkNS, "--wait=true")
	expect("pod deleted", first, true)

	second := createPod()
	if second == first {
		t.Fatal("the recreated pod has its predecessor's UID")
	}
	expect("name reused: the old UID", first, true)
	expect("name reused: the new UID", second, false)

	// The chart grants get, nothing more: listing pods is refused.
	req, _ := http.NewRequest(http.MethodGet, c.URL+"/api/v1/namespaces/"+checkNS+"/pods", nil)
	resp, err := pods.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("listing pods as the agent: %s, want 403 Forbidden", resp.Status)
	}
}

func simplePodIn(ns, name string) []byte {
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"serviceAccountName": "app", "containers": []any{map[string]any{"name": "app", "image": "busybox"}}}})
	return b
}

// apiClient calls the API server with its CA and a bearer token, as the
// agent's in-cluster client does with its mounted token.
func apiClient(t *testing.T, caFile, token string) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 10 * time.Second, Transport: bearer{token, tr}}
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
