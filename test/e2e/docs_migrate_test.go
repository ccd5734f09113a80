package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"

	"github.com/podidentity/podidentity/internal/testenv"
)

// TestSDKCredentialPrecedence checks what docs/migrate-from-irsa.md says
// the move relies on: an SDK that finds both IRSA's variables and Pod
// Identity's uses IRSA (web identity comes first in its chain), and one
// that finds Pod Identity's uses the container provider, which comes
// before instance metadata (what kube2iam and kiam intercept).
func TestSDKCredentialPrecedence(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("header.payload.signature"), 0o600); err != nil {
		t.Fatal(err)
	}
	irsa := []string{"AWS_ROLE_ARN=arn:aws:iam::111122223333:role/cart", "AWS_WEB_IDENTITY_TOKEN_FILE=" + token}
	podIdentity := []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + token}
	base := []string{"AWS_REGION=us-west-2", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

	t.Run("aws-sdk-go-v2", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  []string
			want aws.CredentialsProvider
		}{
			{"both", append(slices.Clone(irsa), podIdentity...), &stscreds.WebIdentityRoleProvider{}},
			{"pod identity only", podIdentity, &endpointcreds.Provider{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, kv := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
					"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
					"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"} {
					t.Setenv(kv, "")
					os.Unsetenv(kv)
				}
				for _, kv := range append(slices.Clone(base), tc.env...) {
					k, v, _ := strings.Cut(kv, "=")
					t.Setenv(k, v)
				}
				cfg, err := config.LoadDefaultConfig(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				cache, ok := cfg.Credentials.(*aws.CredentialsCache)
				if !ok || !cache.IsCredentialsProvider(tc.want) {
					t.Errorf("aws-sdk-go-v2 chose %T, want %T", cfg.Credentials, tc.want)
				}
			})
		}
	})

	t.Run("botocore", func(t *testing.T) {
		python := testenv.Python(t, "botocore")
		script := `
import botocore.session
providers = [p.METHOD for p in botocore.session.get_session().get_component("credential_provider").providers]
order = [providers.index(m) for m in ("assume-role-with-web-identity", "container-role", "iam-role")]
assert order == sorted(order), providers
creds = botocore.session.get_session().get_credentials()
print(creds.method)
`
		cmd := exec.Command(python, "-c", script)
		cmd.Env = append(append(append(slices.Clone(base), irsa...), podIdentity...), passThrough("PATH", "HOME", "PYENV_VERSION", "PYENV_ROOT")...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "assume-role-with-web-identity" {
			t.Errorf("botocore with both IRSA's and Pod Identity's variables: %v\n%s", err, out)
		}
	})
}

// TestMigrationDoc: the trust policy docs/migrate-from-irsa.md shows during
// the move is JSON and holds both ways in: IRSA's web identity and the
// podidentity server's AssumeRole with TagSession.
func TestMigrationDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "migrate-from-irsa.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- test/e2e: TestMigrationDoc -->\n```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/migrate-from-irsa.md has no trust policy marked for this test")
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal map[string]string
			Action    any
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal(m[1], &policy); err != nil {
		t.Fatalf("the trust policy is not JSON: %v", err)
	}
	var irsa, server bool
	for _, s := range policy.Statement {
		actions, _ := json.Marshal(s.Action)
		switch {
		case strings.Contains(s.Principal["Federated"], ":oidc-provider/") && string(actions) == `"sts:AssumeRoleWithWebIdentity"`:
			irsa = s.Condition["StringEquals"] != nil
		case strings.HasPrefix(s.Principal["AWS"], "arn:aws:iam::") && string(actions) == `["sts:AssumeRole","sts:TagSession"]`:
			server = s.Condition["StringEquals"]["aws:RequestTag/kubernetes-service-account"] != ""
		}
	}
	if policy.Version != "2012-10-17" || !irsa || !server {
		t.Errorf("the trust policy should hold IRSA's statement (%v) and the server's with sts:AssumeRole and sts:TagSession (%v):\n%s", irsa, server, m[1])
	}
}
