package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

// readmeConfig is the README's configuration example with the files it
// names moved under dir.
func readmeConfig(t *testing.T, dir string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?ms)^```yaml\n(listen:.*?)^```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no configuration example starting with listen:")
	}
	return strings.NewReplacer("/etc/podidentity/", dir+"/etc/", "/var/lib/podidentity/", dir+"/var/").Replace(string(m[1]))
}

// writeClusterKeys makes a cluster's signing key and writes its public
// keys, as `kubectl get --raw /openid/v1/jwks` prints them, to path.
func writeClusterKeys(t *testing.T, issuer, path string) *tokenmint.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokenmint.NewSigner(key, issuer)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(signer.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	return signer
}

// writeReadmeFiles writes what the README's example names: the cluster's keys,
// two sealing keys and the admin's secret.
func writeReadmeFiles(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeClusterKeys(t, "https://kubernetes.default.svc", filepath.Join(dir, "etc", "prod-jwks.json"))
	sealing := func() []byte {
		b := make([]byte, 32)
		rand.Read(b)
		return []byte(base64.StdEncoding.EncodeToString(b) + "\n")
	}
	for name, data := range map[string][]byte{
		"etc/k1.key": sealing(), "etc/k2.key": sealing(), "etc/admin.secret": []byte("admin-secret\n"),
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "var"), 0o700); err != nil {
		t.Fatal(err)
	}
}

func runCapture(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

// The README's example, its files present, checks clean with a summary,
// and the check creates no database.
func TestServerCheckREADMEExample(t *testing.T) {
	dir := t.TempDir()
	writeReadmeFiles(t, dir)
	t.Setenv("NODE_AGENT_SECRET", "node-agent-secret")
	cfg := filepath.Join(dir, "podidentity.yaml")
	if err := os.WriteFile(cfg, []byte(readmeConfig(t, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCapture("server", "--check", "--config", cfg)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{cfg + ": OK", "clusters     1: prod", "principals   2, role grants 2",
		"storage      sqlite://" + dir + "/var/podidentity.db (no database yet: the server creates it)", "credentials  backend local, 2 sealing keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "podidentity.db")); !os.IsNotExist(err) {
		t.Errorf("--check created the database: %v", err)
	}
	t.Logf("server --check on the README's example:\n%s", out)
}

// A file with many problems of every kind gets all of them in one run,
// and no secret it names is printed.
func TestServerCheckListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeReadmeFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "etc", "bad.key"), []byte("not base64 at all!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "not-jwks.json"), []byte(`{"keys": "nope"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "broken.yaml")
	body := strings.NewReplacer("DIR", dir).Replace(`listen: 127.0.0.1:99999
region: us-weast-2
storage: sqlite://DIR/no-such-dir/podidentity.db
tracing: true
clusters:
  - name: prod
    issuer: https://prod.example
    jwksFile: DIR/etc/missing-jwks.json
  - name: staging
    issuer: https://staging.example
    jwksFile: DIR/etc/not-jwks.json
credentials:
  sealingKeys:
    - {id: k1, keyFile: DIR/etc/bad.key}
    - {id: k2, key: c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0}
auth:
  principals:
    - arn: arn:aws:iam::123456789012:user/admin
      accessKeyId: AKIAPLATFORMADMIN001
      secretAccessKeyFile: DIR/etc/no-admin.secret
      actions: ["ekss:*"]
      clusters: ["*"]
    - arn: arn:aws:iam::123456789012:role/node-agent
      accessKeyId: AKIANODEAGENT0000001
      secretAccessKeyEnv: PODIDENTITY_TEST_UNSET_SECRET
      actions: ["eks-auth:AssumeRoleForPodIdentity"]
      clusters: ["prod"]
`)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCapture("server", "--check", "--config", cfg)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want exit 1 and the problems on stderr", code, out)
	}
	for _, want := range []string{
		cfg + ": 11 problems:",
		`line 4: unknown key "tracing"`,
		`listen: "127.0.0.1:99999" port "99999" is not a number from 0 to 65535`,
		`region: "us-weast-2" is not a region of an AWS partition`,
		`auth.principals[0].actions[0]: "ekss:*" names no service this server authorizes (eks, eks-auth, sts, iam)`,
		"clusters[0] (prod): ", "missing-jwks.json",
		"clusters[1] (staging): ",
		`credentials.sealingKeys[0]: local key "k1": `, "bad.key: secret is not base64",
		`credentials.sealingKeys[1]: local key "k2": secret is 24 bytes, want 32`,
		"auth.principals[0].secretAccessKeyFile: open " + dir + "/etc/no-admin.secret: no such file or directory",
		"auth.principals[1].secretAccessKeyEnv: the environment variable PODIDENTITY_TEST_UNSET_SECRET is not set",
		"storage: the directory " + dir + "/no-such-dir of the SQLite file does not exist",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(errOut, "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0") {
		t.Error("the output carries a sealing key")
	}
	if _, err := os.Stat(filepath.Join(dir, "no-such-dir")); !os.IsNotExist(err) {
		t.Errorf("--check created the storage directory: %v", err)
	}
	t.Logf("server --check on a broken file:\n%s", errOut)
}

func TestServerWithoutConfigurationSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{{"server"}, {"server", "--listen", "127.0.0.1:0"}, {"server", "--check"}} {
		_, errOut, code := runCapture(args...)
		if code != 2 || !strings.Contains(errOut, "--config FILE") {
			t.Errorf("%v: exit %d, %q; want exit 2 naming --dev and --config FILE", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "podidentity.db")); !os.IsNotExist(err) {
		t.Errorf("the server created ./podidentity.db: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("# to do\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"server", "--config", empty}, {"server", "--check", "--config", empty}} {
		_, errOut, code := runCapture(args...)
		if code != 1 || !strings.Contains(errOut, "the file is empty") {
			t.Errorf("%v: exit %d, %q; want exit 1 saying the file is empty", args, code, errOut)
		}
	}
}

// The normal start-up refuses a region and an action pattern that no
// AWS partition or service has, instead of serving requests nobody can
// sign or a grant that grants nothing.
func TestServerRefusesTypos(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := `region: us-weast-2
storage: memory
clusters: [{name: prod, issuer: https://prod.example, discovery: true}]
auth:
  principals:
    - {arn: "arn:aws:iam::123456789012:user/a", accessKeyId: AKIAADMIN0000000001, secretAccessKey: s, actions: ["ekss:*"], clusters: ["*"]}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCapture("server", "--config", cfg, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, `region: "us-weast-2"`) || !strings.Contains(errOut, `"ekss:*" names no service`) {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

// A secretAccessKeyEnv naming an unset variable is refused naming it.
func TestServerNamesUnsetSecretVariable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := `storage: memory
clusters: [{name: prod, issuer: https://prod.example, discovery: true}]
auth:
  principals:
    - {arn: "arn:aws:iam::123456789012:user/a", accessKeyId: AKIAADMIN0000000001, secretAccessKeyEnv: PODIDENTITY_TEST_UNSET_SECRET, actions: ["eks:List*"], clusters: ["*"]}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCapture("server", "--config", cfg, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "secretAccessKeyEnv: the environment variable PODIDENTITY_TEST_UNSET_SECRET is not set") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

// A storage path whose directory does not exist is refused at start,
// naming the directory (not "unable to open database file (14)").
func TestServerStorageDirectoryMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := "storage: sqlite://" + dir + "/no-such-dir/podidentity.db\nclusters: [{name: prod, issuer: https://prod.example, discovery: true}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCapture("server", "--config", cfg, "--listen", "127.0.0.1:0")
	want := "podidentity server: opening storage: the directory " + dir + "/no-such-dir of the SQLite file does not exist; create it or point storage at another path\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, errOut, want)
	}
}
