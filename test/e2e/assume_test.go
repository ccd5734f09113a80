package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// clusterKeys stands in for a cluster's kube-apiserver: it signs tokens and
// publishes its public keys in a JWKS file the server is configured with.
type clusterKeys struct {
	signer *tokenmint.Signer
	jwks   string
}

func newClusterKeys(t *testing.T, dir, issuer string) *clusterKeys {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokenmint.NewSigner(key, issuer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s.JWKS())
	path := filepath.Join(dir, "jwks-"+regexp.MustCompile(`\W`).ReplaceAllString(issuer, "_")+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &clusterKeys{signer: s, jwks: path}
}

func (k *clusterKeys) mint(t *testing.T, p tokenmint.Pod, now time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := k.signer.Mint(p, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func assumeConfig(t *testing.T, dir string, demo, other *clusterKeys) string {
	return writeConfig(t, dir, fmt.Sprintf(`
accountId: "111122223333"
storage: sqlite://%s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
  - name: other
    issuer: https://issuer.example/other
    jwksFile: %s
`+adminAuth, filepath.Join(dir, "db.sqlite"), demo.jwks, other.jwks))
}

func TestBoto3AssumeRoleForPodIdentity(t *testing.T) {
	py := testenv.Python(t, "boto3")
	dir := t.TempDir()
	demo := newClusterKeys(t, dir, "https://issuer.example/demo")
	other := newClusterKeys(t, dir, "https://issuer.example/other")
	srv := startServer(t, "--config", assumeConfig(t, dir, demo, other))

	now := time.Now()
	app := tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}
	stranger, _ := tokenmint.NewSigner(mustECKey(t), "https://issuer.example/demo")
	wrongIssuer, _ := tokenmint.NewSigner(mustECKey(t), "https://issuer.example/elsewhere")
	strangerTok, _ := stranger.Mint(app, now, time.Hour)
	wrongIssuerTok, _ := wrongIssuer.Mint(app, now, time.Hour)
	tokens := map[string]string{
		"good":         demo.mint(t, app, now, time.Hour),
		"etl":          demo.mint(t, tokenmint.Pod{Namespace: "data", ServiceAccount: "etl", PodName: "etl-0"}, now, time.Hour),
		"unassociated": demo.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "nobody", PodName: "x"}, now, time.Hour),
		"expired":      demo.mint(t, app, now.Add(-3*time.Hour), time.Hour),
		"otherKey":     strangerTok,
		"wrongIssuer":  wrongIssuerTok,
		"wrongAud":     demo.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0", Audience: []string{"sts.amazonaws.com"}}, now, time.Hour),
		"noPod":        demo.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app"}, now, time.Hour),
		"otherCluster": other.mint(t, app, now, time.Hour),
	}
	enc, _ := json.Marshal(tokens)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Setenv("TOKENS", string(enc))
	out, errOut, err := runCmd(t, ctx, py, "testdata/assume.py", srv.URL)
	if err != nil || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("boto3 script: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
	// Secrets never reach the logs.
	logs := srv.Logs.String()
	for name, tok := range tokens {
		if strings.Contains(logs, tok[strings.LastIndex(tok, ".")+1:]) {
			t.Errorf("server logs contain the signature of token %q", name)
		}
	}
	if !strings.Contains(logs, `"msg":"credentials issued"`) || !strings.Contains(logs, `"pod":"web-0"`) {
		t.Errorf("no audit record for the issued credentials in the logs")
	}
}

func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The README's quickstart, as a user types it: dev server, AWS CLI, token
// command, assume, then get-caller-identity with the credentials.
func TestAWSCLIDevFlow(t *testing.T) {
	aws := testenv.LookPath(t, "aws")
	srv := startServer(t, "--dev")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, stderr, err := runCmd(t, ctx, aws, "eks", "create-pod-identity-association", "--endpoint-url", srv.URL,
		"--cluster-name", "demo", "--namespace", "default", "--service-account", "app",
		"--role-arn", "arn:aws:iam::123456789012:role/demo-app"); err != nil {
		t.Fatalf("create: %v\n%s", err, stderr)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if _, stderr, err := runCmd(t, ctx, binary, "token", "--endpoint", srv.URL, "--cluster", "demo",
		"--namespace", "default", "--service-account", "app", "--output", tokenFile); err != nil {
		t.Fatalf("token: %v\n%s", err, stderr)
	}
	tok, _ := os.ReadFile(tokenFile)
	if len(tok) == 0 || tok[len(tok)-1] == '\n' {
		t.Fatalf("token file is empty or ends in a newline: %q", tok)
	}
	out, stderr, err := runCmd(t, ctx, aws, "eks-auth", "assume-role-for-pod-identity", "--endpoint-url", srv.URL,
		"--cluster-name", "demo", "--token", string(tok), "--output", "json")
	if err != nil {
		t.Fatalf("assume: %v\n%s", err, stderr)
	}
	var resp struct {
		AssumedRoleUser struct{ Arn string }
		Credentials     struct{ AccessKeyID, SecretAccessKey, SessionToken string }
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	json.Unmarshal([]byte(out), &struct{ Credentials *map[string]string }{&creds})
	cmd := []string{"sts", "get-caller-identity", "--endpoint-url", srv.URL, "--output", "json"}
	env := append(awsEnv(), "AWS_ACCESS_KEY_ID="+creds["accessKeyId"], "AWS_SECRET_ACCESS_KEY="+creds["secretAccessKey"], "AWS_SESSION_TOKEN="+creds["sessionToken"])
	who, stderr, err := runCmdEnv(t, ctx, env, aws, cmd...)
	if err != nil {
		t.Fatalf("get-caller-identity: %v\n%s", err, stderr)
	}
	var id struct{ Arn, Account string }
	json.Unmarshal([]byte(who), &id)
	if id.Arn != resp.AssumedRoleUser.Arn || id.Account != "123456789012" || !strings.Contains(id.Arn, ":assumed-role/demo-app/eks-demo-app-dev-") {
		t.Errorf("get-caller-identity = %s, want the assumed role %s", who, resp.AssumedRoleUser.Arn)
	}
}
