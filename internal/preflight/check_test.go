package preflight

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// What start-up would only find one failure at a time, the check finds at
// once: a CA bundle that is no PEM, a TokenReview token that is missing, a
// password variable that is unset, a database that does not answer; and
// it never prints the database password.
func TestCheckFilesEnvironmentAndStorage(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := strings.NewReplacer("DIR", dir).Replace(`storage: postgres://podidentity:hunter2-password@127.0.0.1:1/podidentity?connect_timeout=2
clusters:
  - name: prod
    issuer: https://prod.example
    jwksURL: https://prod.example/openid/v1/jwks
    caFile: DIR/ca.pem
  - name: staging
    issuer: https://staging.example
    discovery: true
    tokenReview: {apiServer: "https://staging.example:6443", tokenFile: DIR/no-token}
`)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), cfg, Flags{})
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{"clusters[0] (prod): ", "ca.pem", "clusters[1] (staging): tokenReview: ", "no-token", "storage: connecting to postgres"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if len(r.Problems) != 3 {
		t.Errorf("%d problems, want 3:\n%s", len(r.Problems), got)
	}
	if strings.Contains(got, "hunter2-password") {
		t.Errorf("the problems carry the database password:\n%s", got)
	}
}

func TestCheckNamesUnsetPasswordVariable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := `storage: postgres://podidentity@127.0.0.1:1/podidentity?connect_timeout=1
storageOptions: {passwordEnv: PODIDENTITY_TEST_UNSET_PASSWORD}
clusters: [{name: prod, issuer: https://prod.example, discovery: true}]
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), cfg, Flags{})
	if len(r.Problems) == 0 || r.Problems[0] != "storageOptions.passwordEnv: the environment variable PODIDENTITY_TEST_UNSET_PASSWORD is not set" {
		t.Errorf("problems = %q", r.Problems)
	}
}

func TestCheckBrokenYAML(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "podidentity.yaml")
	if err := os.WriteFile(cfg, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), cfg, Flags{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "line") {
		t.Errorf("problems = %q, want the YAML error alone", r.Problems)
	}
	r = Check(context.Background(), filepath.Join(t.TempDir(), "missing.yaml"), Flags{})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "reading the file") {
		t.Errorf("problems = %q", r.Problems)
	}
}

// The summary says what the server will find in its store, and the check
// leaves a missing SQLite file missing.
func TestCheckSummaryStorageState(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	s, err := sqlstore.Open(context.Background(), "sqlite://"+existing)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for storage, want := range map[string]string{
		"memory":               "in memory: gone when the server stops",
		"sqlite://" + existing: "an existing database",
		"sqlite://" + filepath.Join(dir, "fresh.db"): "no database yet: the server creates it",
	} {
		cfg := filepath.Join(dir, "podidentity.yaml")
		body := "storage: " + storage + "\nclusters: [{name: prod, issuer: https://prod.example, discovery: true}]\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		r := Check(context.Background(), cfg, Flags{})
		if !r.OK() || r.Summary.StorageState != want {
			t.Errorf("%s: problems %q, state %q; want none, %q", storage, r.Problems, r.Summary.StorageState, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh.db")); !os.IsNotExist(err) {
		t.Errorf("the check created the database: %v", err)
	}
}

// A file that declares no cluster is valid, but a server with nothing to
// serve: the check passes and warns.
func TestCheckNoClusters(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "podidentity.yaml")
	if err := os.WriteFile(cfg, []byte("storage: memory\nclusters: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), cfg, Flags{})
	var out strings.Builder
	r.Write(&out)
	if !r.OK() || len(r.Warnings) != 1 || !strings.Contains(out.String(), "warning: clusters: none declared") {
		t.Errorf("problems %q, warnings %q, output:\n%s", r.Problems, r.Warnings, out.String())
	}
}

// --listen is checked, and summarized, in place of the file's listen key.
func TestCheckListenFlag(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "podidentity.yaml")
	body := "storage: memory\nclusters:\n  - name: demo\n    issuer: https://issuer.example\n    discovery: true\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := Check(context.Background(), cfg, Flags{Listen: "127.0.0.1:9443"}); !r.OK() || r.Summary.Listen != "127.0.0.1:9443" {
		t.Errorf("--listen 127.0.0.1:9443: problems %q, listen %q", r.Problems, r.Summary.Listen)
	}
	r := Check(context.Background(), cfg, Flags{Listen: "127.0.0.1:99999"})
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], `"127.0.0.1:99999"`) {
		t.Errorf("--listen 127.0.0.1:99999: problems %q", r.Problems)
	}
}

// Every file a cluster names is checked, not only the first that fails:
// a broken CA bundle does not hide a missing key file or token.
func TestCheckEveryFileOfACluster(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "podidentity.yaml")
	body := strings.NewReplacer("DIR", dir).Replace(`storage: memory
clusters:
  - name: prod
    issuer: https://prod.example
    jwksFile: DIR/no-jwks.json
    caFile: DIR/ca.pem
    tokenReview: {apiServer: "https://prod.example:6443", tokenFile: DIR/no-token}
`)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), cfg, Flags{})
	got := strings.Join(r.Problems, "\n")
	for _, want := range []string{"ca.pem", "no-jwks.json", "no-token"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "ca.pem"); n != 1 {
		t.Errorf("the CA bundle TokenReview inherits is reported %d times, want once:\n%s", n, got)
	}
}
