package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// binary is the podidentity binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "podidentity-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "podidentity")
	build := exec.Command("go", "build", "-o", binary, "github.com/podidentity/podidentity/cmd/podidentity")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building podidentity:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running podidentity server process.
type server struct {
	URL string
	*testenv.Process
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs `podidentity server` with args plus --listen on a free
// loopback port, and waits until it says where it listens.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, args...)
}

// startServerEnv is startServer with the server's environment (nil: the
// test's own).
func startServerEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := launchServer(t, "server", env, args...)
	s.WaitReady(t, 30*time.Second)
	return s
}

// launchServer starts a server without waiting for it to listen.
func launchServer(t *testing.T, name string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = env
	s := &server{}
	s.Process = testenv.Launch(t, name, cmd, testenv.AnnouncesURL(listening, &s.URL))
	return s
}

// writeConfig writes a server config into a temp dir and returns its path.
func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The key the test clients sign with, and the principal that owns it.
const (
	e2eKey    = "AKIAIOSFODNN7EXAMPLE"
	e2eSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// adminAuth is a config auth block allowing e2eKey everything.
	adminAuth = `
auth:
  principals:
    - arn: arn:aws:iam::111122223333:user/e2e
      accessKeyId: ` + e2eKey + `
      secretAccessKey: ` + e2eSecret + `
      actions: ["eks:*", "eks-auth:AssumeRoleForPodIdentity"]
      clusters: ["*"]
      passRoles: ["*"]
`
)

// basicConfig declares two clusters on a SQLite file in dir.
func basicConfig(t *testing.T, dir string) string {
	jwks := newClusterKeys(t, dir, "https://issuer.example/demo").jwks
	return writeConfig(t, dir, fmt.Sprintf(`
region: us-west-2
accountId: "111122223333"
storage: sqlite://%s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
  - name: other
    issuer: https://issuer.example/other
    jwksFile: %s
log:
  format: json
`+adminAuth, filepath.Join(dir, "podidentity.db"), jwks, jwks))
}

// awsEnv is the environment of an AWS client talking to our server: fixed
// credentials and region, and no user configuration leaking in.
func awsEnv() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + e2eKey,
		"AWS_SECRET_ACCESS_KEY=" + e2eSecret,
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"NO_PROXY=127.0.0.1,localhost",
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "HOME" || strings.HasPrefix(k, "PYENV") || k == "LANG" {
			env = append(env, kv)
		}
	}
	return env
}

func runCmd(t *testing.T, ctx context.Context, name string, args ...string) (string, string, error) {
	t.Helper()
	return runCmdEnv(t, ctx, append(awsEnv(), passThrough("TOKENS")...), name, args...)
}

// passThrough copies the named variables of the test's environment.
func passThrough(names ...string) []string {
	var out []string
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}

func runCmdEnv(t *testing.T, ctx context.Context, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
