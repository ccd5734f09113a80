package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

func TestBoto3EKSAPI(t *testing.T) {
	py := testenv.Python(t, "boto3")
	srv := startServer(t, "--config", basicConfig(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := runCmd(t, ctx, py, "testdata/eks_api.py", srv.URL)
	if err != nil {
		t.Fatalf("boto3 script: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if !strings.HasPrefix(out, "ok ") {
		t.Fatalf("boto3 script did not finish: %s %s", out, errOut)
	}
	t.Log(strings.TrimSpace(out))

	// The binary serves Prometheus metrics that counted what boto3 did.
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`podidentity_server_requests_total{code="OK",operation="CreatePodIdentityAssociation"}`,
		`podidentity_server_requests_total{code="ResourceNotFoundException",operation="DescribePodIdentityAssociation"}`,
		`podidentity_server_requests_total{code="ResourceInUseException",operation="CreatePodIdentityAssociation"}`,
		`process_cpu_seconds_total`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAWSCLIEKSAPI(t *testing.T) {
	aws := testenv.LookPath(t, "aws")
	srv := startServer(t, "--config", basicConfig(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := func(args ...string) (map[string]any, string, error) {
		args = append(args, "--endpoint-url", srv.URL, "--output", "json")
		out, errOut, err := runCmd(t, ctx, aws, args...)
		var doc map[string]any
		if err == nil && strings.TrimSpace(out) != "" {
			if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil {
				t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), jerr, out)
			}
		}
		return doc, errOut, err
	}
	created, stderr, err := cli("eks", "create-pod-identity-association", "--cluster-name", "demo",
		"--namespace", "default", "--service-account", "app", "--role-arn", "arn:aws:iam::111122223333:role/app",
		"--tags", "team=a")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, stderr)
	}
	a := created["association"].(map[string]any)
	id := a["associationId"].(string)
	if a["namespace"] != "default" || a["serviceAccount"] != "app" || !strings.HasPrefix(id, "a-") {
		t.Errorf("created %v", a)
	}
	list, stderr, err := cli("eks", "list-pod-identity-associations", "--cluster-name", "demo")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, stderr)
	}
	if n := len(list["associations"].([]any)); n != 1 {
		t.Errorf("list returned %d associations, want 1", n)
	}
	desc, stderr, err := cli("eks", "describe-pod-identity-association", "--cluster-name", "demo", "--association-id", id)
	if err != nil || desc["association"].(map[string]any)["associationId"] != id {
		t.Fatalf("describe: %v %v\n%s", desc, err, stderr)
	}
	if _, stderr, err := cli("eks", "update-pod-identity-association", "--cluster-name", "demo", "--association-id", id,
		"--role-arn", "arn:aws:iam::111122223333:role/app2"); err != nil {
		t.Fatalf("update: %v\n%s", err, stderr)
	}
	clusters, _, err := cli("eks", "list-clusters")
	if err != nil || fmt.Sprint(clusters["clusters"]) != "[demo other]" {
		t.Fatalf("list-clusters: %v %v", clusters, err)
	}
	// Errors surface with their AWS exception names and a non-zero exit.
	_, stderr, err = cli("eks", "create-pod-identity-association", "--cluster-name", "demo",
		"--namespace", "default", "--service-account", "app", "--role-arn", "arn:aws:iam::111122223333:role/app")
	if err == nil || !strings.Contains(stderr, "ResourceInUseException") {
		t.Errorf("duplicate create: err %v, stderr %q; want ResourceInUseException", err, stderr)
	}
	_, stderr, err = cli("eks", "describe-pod-identity-association", "--cluster-name", "nope", "--association-id", id)
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("unknown cluster: err %v, stderr %q", err, stderr)
	}
	deleted, stderr, err := cli("eks", "delete-pod-identity-association", "--cluster-name", "demo", "--association-id", id)
	if err != nil || deleted["association"].(map[string]any)["roleArn"] != "arn:aws:iam::111122223333:role/app2" {
		t.Fatalf("delete: %v %v\n%s", deleted, err, stderr)
	}
}
