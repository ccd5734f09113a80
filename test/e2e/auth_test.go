package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

const (
	readerSecret = "reader-secret-0000000000000000000000000"
	nodeSecret   = "node-secret-00000000000000000000000000"
)

// TestBoto3Authorization runs the auth checks and then scans the server's
// whole log for every secret the run used.
func TestBoto3Authorization(t *testing.T) {
	py := testenv.Python(t, "boto3")
	dir := t.TempDir()
	demo := newClusterKeys(t, dir, "https://issuer.example/demo")
	secretFile := filepath.Join(dir, "node.secret")
	if err := os.WriteFile(secretFile, []byte(nodeSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("READER_SECRET", readerSecret)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
accountId: "111122223333"
storage: sqlite://%s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
  - name: other
    issuer: https://issuer.example/other
    jwksFile: %s
auth:
  principals:
    - arn: arn:aws:iam::111122223333:user/e2e
      accessKeyId: %s
      secretAccessKey: %s
      actions: ["eks:*"]
      clusters: ["*"]
      passRoles: ["*"]
    - arn: arn:aws:iam::111122223333:user/reader
      accessKeyId: AKIAREADER0000000000
      secretAccessKeyEnv: READER_SECRET
      actions: ["eks:List*", "eks:Describe*"]
      clusters: ["demo"]
    - arn: arn:aws:iam::111122223333:role/node
      accessKeyId: AKIANODE000000000000
      secretAccessKeyFile: %s
      actions: ["eks-auth:AssumeRoleForPodIdentity"]
      clusters: ["*"]
log:
  level: debug
`, filepath.Join(dir, "db.sqlite"), demo.jwks, demo.jwks, e2eKey, e2eSecret, secretFile))
	srv := startServerEnv(t, append(awsEnv(), "READER_SECRET="+readerSecret), "--config", cfg)
	token := demo.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)

	secretsOut := filepath.Join(dir, "secrets.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := append(awsEnv(), "TOKEN="+token, "SECRETS_OUT="+secretsOut)
	out, errOut, err := runCmdEnv(t, ctx, env, py, "testdata/auth.py", srv.URL)
	if err != nil || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("auth script: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Log(strings.TrimSpace(out))

	srv.Stop(t)
	var minted []string
	b, err := os.ReadFile(secretsOut)
	if err != nil || json.Unmarshal(b, &minted) != nil {
		t.Fatalf("reading the secrets the script saw: %v", err)
	}
	logs := srv.Logs.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) && !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("the scan needs the server's logs, got: %.200s", logs)
	}
	for _, secret := range append(minted, e2eSecret, readerSecret, nodeSecret) {
		// Any 16-character window of a secret would be a leak.
		for i := 0; i+16 <= len(secret); i += 8 {
			if strings.Contains(logs, secret[i:i+16]) {
				t.Errorf("server logs contain part of a secret (%.6s...)", secret)
				break
			}
		}
	}
}
