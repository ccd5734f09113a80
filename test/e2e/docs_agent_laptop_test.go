package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// TestAgentOnALaptopDoc runs docs/agent-on-a-laptop.md's block as written,
// as one script in a copy of the repository, inside a fresh network
// namespace (its ports are fixed, as on a laptop), with the AWS keys a
// Quickstart reader still has exported: the pod's command must not use
// them.
func TestAgentOnALaptopDoc(t *testing.T) {
	testenv.LookPath(t, "aws")
	testenv.LookPath(t, "curl")
	if inside, _ := inAgentNetns(t); !inside {
		return
	}
	script := theShellBlock(t, "agent-on-a-laptop.md")
	repo := copyRepository(t)
	env := append(newcomerEnv(t), "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=dev")
	// And a laptop's own profile, which the SDKs also prefer to the
	// container endpoint.
	home := strings.TrimPrefix(env[0], "HOME=")
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	profile := "[default]\naws_access_key_id = AKIAIOSFODNN7LAPTOP\naws_secret_access_key = laptop\n"
	if err := os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, stderr := runScript(t, ctx, repo, env, script)
	if !strings.Contains(out, `"Arn": "arn:aws:sts::123456789012:assumed-role/demo-app/eks-demo-app-dev-`) {
		t.Errorf("the pod did not get the association's role through the agent:\nstdout: %s\nstderr: %s", out, stderr)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Errorf("the agent's /readyz did not answer ok:\n%s", out)
	}
	if !strings.Contains(stderr, `"msg":"credentials fetched"`) {
		t.Errorf("the agent did not log the credentials it fetched:\n%s", stderr)
	}
}
