package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctorUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pod", "p"}, "--namespace is required"},
		{[]string{"--namespace", "n", "--endpoint", "http://x"}, "exactly one of --pod and --service-account"},
		{[]string{"--namespace", "n", "--pod", "p", "--service-account", "s", "--endpoint", "http://x"}, "exactly one of"},
		{[]string{"--namespace", "n", "--pod", "p"}, `--endpoint ""`},
		{[]string{"--namespace", "n", "--pod", "p", "--endpoint", "http://x", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"--namespace", "n", "--pod", "p", "--endpoint", "http://x", "--kubeconfig", "/nonexistent"}, "reading the kubeconfig"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), append([]string{"doctor"}, tc.args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.want)
		}
	}
}

func TestLoadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("token", "file-token\n")
	good := write("good", `
current-context: b
clusters:
  - {name: one, cluster: {server: "https://one:6443/"}}
  - {name: two, cluster: {server: "https://two:6443", insecure-skip-tls-verify: true}}
users:
  - {name: u, user: {tokenFile: token}}
contexts:
  - {name: a, context: {cluster: one, user: u}}
  - {name: b, context: {cluster: two, user: u}}
`)
	api, err := loadKubeconfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if api.ClusterName != "two" || api.Server != "https://two:6443" || api.BearerToken != "file-token" {
		t.Errorf("got cluster %q server %q token %q", api.ClusterName, api.Server, api.BearerToken)
	}
	for name, tc := range map[string]struct{ config, want string }{
		"exec": {`
current-context: a
clusters: [{name: one, cluster: {server: "https://one"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: a, context: {cluster: one, user: u}}]
`, "exec or auth-provider plugin"},
		"no context": {"current-context: zz\n", `current-context "zz" names no context`},
		"bad CA": {`
current-context: a
clusters: [{name: one, cluster: {server: "https://one", certificate-authority-data: bm90IGEgY2VydA==}}]
contexts: [{name: a, context: {cluster: one, user: u}}]
`, "no PEM certificate"},
	} {
		if _, err := loadKubeconfig(write(name, tc.config)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}
