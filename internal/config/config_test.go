package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	f, err := Parse([]byte(`
clusters:
  - name: demo
    issuer: https://issuer.example
    discovery: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen != DefaultListen || f.Region != DefaultRegion || f.AccountID != DefaultAccountID || f.Storage != DefaultStorage {
		t.Errorf("defaults not applied: %+v", f)
	}
	if f.Credentials.Backend != "local" || f.Credentials.SessionDuration != 6*time.Hour || f.Credentials.ChainedSessionDuration != time.Hour {
		t.Errorf("credential defaults: %+v", f.Credentials)
	}
	if f.Limits.AssociationsPerCluster != 5000 {
		t.Errorf("limit default = %d", f.Limits.AssociationsPerCluster)
	}
	// Beyond AWS only when asked for: session shaping is a grant.
	if f.Associations.Patterns || f.Associations.SessionShaping {
		t.Errorf("associations default = %+v, want both off", f.Associations)
	}
}

// An empty file is most likely the wrong one: serving every default (no
// clusters, ./podidentity.db) would hide the mistake.
func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "---\n"} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "the file is empty") {
			t.Errorf("Parse(%q) = %v, want an error saying the file is empty", in, err)
		}
	}
}

func TestParseFull(t *testing.T) {
	f, err := Parse([]byte(`
listen: 0.0.0.0:8443
region: eu-central-1
accountId: "000011112222"
storage: sqlite:///var/lib/podidentity/db.sqlite
clusters:
  - name: prod
    issuer: https://k8s.example.com
    jwksURL: https://k8s.example.com/openid/v1/jwks
    caFile: /etc/ca.pem
    tokenReview:
      apiServer: https://k8s.example.com:6443
      tokenFile: /var/run/secrets/token
credentials:
  backend: local
  sealingKeys:
    - id: k1
      keyFile: /etc/podidentity/k1
  sessionDuration: 2h
auth:
  principals:
    - arn: arn:aws:iam::000011112222:user/admin
      accessKeyId: AKIAADMIN0000000
      secretAccessKeyEnv: ADMIN_SECRET
      actions: ["eks:*"]
      clusters: ["*"]
      passRoles: ["arn:aws:iam::000011112222:role/apps/*"]
limits:
  associationsPerCluster: 1000
associations:
  patterns: true
  sessionShaping: true
log:
  level: debug
  format: text
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.AccountID != "000011112222" || f.Clusters[0].TokenReview.APIServer != "https://k8s.example.com:6443" ||
		f.Credentials.SessionDuration != 2*time.Hour || f.Auth.Principals[0].Actions[0] != "eks:*" || f.Limits.AssociationsPerCluster != 1000 ||
		!f.Associations.Patterns || !f.Associations.SessionShaping {
		t.Errorf("parsed %+v", f)
	}
}

func TestUnknownKeyIsNamed(t *testing.T) {
	_, err := Parse([]byte("clusters:\n  - name: demo\n    issuer: https://x\n    discovery: true\n    jwks_file: /x\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown key "jwks_file"`) || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("err = %v", err)
	}
}

func TestEveryProblemReported(t *testing.T) {
	_, err := Parse([]byte(`
listen: nowhere
region: Mars
accountId: "12"
storage: mysql://x
clusters:
  - name: -bad
    issuer: ftp://x
  - name: -bad
    issuer: https://x
    jwksFile: a
    discovery: true
credentials:
  backend: magic
  sealingKeys: [{id: k}, {id: k, key: a, keyFile: b}]
  sessionDuration: 1m
auth:
  principals:
    - arn: bob
      accessKeyId: short
      actions: []
limits:
  associationsPerCluster: -1
log:
  level: loud
  format: xml
`))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"listen:", "region:", "accountId:", "storage:", "clusters[0].name:", "clusters[0].issuer:",
		"clusters[0]: set exactly one", "clusters[1]: set exactly one", "clusters[1].name: cluster \"-bad\" is declared more than once",
		"credentials.backend:", "credentials.sealingKeys[0]: set exactly one", "credentials.sealingKeys[1].id:", "credentials.sessionDuration:",
		"auth.principals[0].arn:", "auth.principals[0].accessKeyId:", "auth.principals[0]: set exactly one", "auth.principals[0].actions:", "auth.principals[0].clusters:",
		"limits.associationsPerCluster:", "log.level:", "log.format:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("problem %q not reported in:\n%v", key, err)
		}
	}
}

func TestSecretsNotEchoed(t *testing.T) {
	_, err := Parse([]byte(`
auth:
  principals:
    - arn: arn:aws:iam::123456789012:user/x
      accessKeyId: AKIA0000000000000000
      secretAccessKey: SUPERSECRETVALUE
      secretAccessKeyFile: /x
      actions: ["eks:*"]
`))
	if err == nil || strings.Contains(err.Error(), "SUPERSECRETVALUE") {
		t.Fatalf("err = %v", err)
	}
}

// A storage value the server cannot use is refused without echoing a
// password it may hold: a libpq keyword string or a URL of another kind.
func TestStoragePasswordNotEchoed(t *testing.T) {
	for _, storage := range []string{"host=db password=SUPERSECRETVALUE dbname=pi", "mysql://u:SUPERSECRETVALUE@h/db"} {
		_, err := Parse([]byte("storage: \"" + storage + "\"\n"))
		if err == nil || !strings.Contains(err.Error(), "storage") || strings.Contains(err.Error(), "SUPERSECRETVALUE") {
			t.Errorf("storage %q: err = %v", storage, err)
		}
	}
}

// Whoever may create or update associations must say which roles it may
// pass, the way a missing clusters list is an error.
func TestPassRolesRequired(t *testing.T) {
	const head = "clusters: [{name: demo, issuer: https://x, discovery: true}]\nauth:\n"
	tests := []struct {
		name, auth, want string
	}{
		{"eks:* without passRoles", `  principals:
    - {arn: "arn:aws:iam::123456789012:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*"], clusters: ["*"]}
`, `auth.principals[0].passRoles: principal arn:aws:iam::123456789012:user/admin may call eks:CreatePodIdentityAssociation: list the role ARN patterns it may name as roleArn or targetRoleArn (iam:PassRole), e.g. passRoles: ["*"]`},
		{"update only, lower case", `  principals:
    - {arn: "arn:aws:iam::123456789012:user/ops", accessKeyId: AKIAOPS00000000000, secretAccessKey: s, actions: ["eks:updatepodidentityassociation"], clusters: ["*"]}
`, `auth.principals[0].passRoles: principal arn:aws:iam::123456789012:user/ops may call eks:UpdatePodIdentityAssociation`},
		{"role grant", `  roles:
    - {roleArn: "arn:aws:iam::123456789012:role/deployer", actions: ["eks:Create*"], clusters: ["*"]}
`, `auth.roles[0].passRoles: sessions of role arn:aws:iam::123456789012:role/deployer may call eks:CreatePodIdentityAssociation`},
		{"not an ARN", `  principals:
    - {arn: "arn:aws:iam::123456789012:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*"], clusters: ["*"], passRoles: ["team-a-*"]}
`, `auth.principals[0].passRoles: "team-a-*" is not a role ARN pattern`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.auth))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Readers and nodes pass no roles and need no list.
	if _, err := Parse([]byte(head + `  principals:
    - {arn: "arn:aws:iam::123456789012:user/r", accessKeyId: AKIAREADER000000, secretAccessKey: s, actions: ["eks:List*", "eks:Describe*"], clusters: ["*"]}
    - {arn: "arn:aws:iam::123456789012:role/node", accessKeyId: AKIANODE00000000, secretAccessKey: s, actions: ["eks-auth:AssumeRoleForPodIdentity"], clusters: ["*"]}
`)); err != nil {
		t.Errorf("principals that pass no roles: %v", err)
	}
}

// Cluster names are compared exactly everywhere, so two that differ only
// in case would be two clusters to the server and one to a reader.
func TestClusterNamesDifferingInCaseRefused(t *testing.T) {
	_, err := Parse([]byte(`
clusters:
  - {name: team-a, issuer: https://a.example, discovery: true}
  - {name: Team-A, issuer: https://b.example, discovery: true}
`))
	want := `clusters[1].name: cluster "Team-A" differs from cluster "team-a" only in case`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestHostnames(t *testing.T) {
	f, err := Parse([]byte(`hostnames: [podidentity.example.com, "10.0.0.5:8080", "[fd00::5]:443", podidentity-server.podidentity-system.svc]`))
	if err != nil || len(f.Hostnames) != 4 {
		t.Fatalf("valid hostnames: %v %v", f, err)
	}
	_, err = Parse([]byte(`hostnames: ["https://podidentity.example.com", "a b", "host:99999", ""]`))
	for i := range 4 {
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("hostnames[%d]: ", i)) {
			t.Errorf("hostnames[%d] not refused: %v", i, err)
		}
	}
}

// Two clusters with one issuer would accept each other's tokens: refused
// unless both entries say they are one cluster.
func TestSharedIssuerRefused(t *testing.T) {
	_, err := Parse([]byte(`
clusters:
  - {name: team-a, issuer: https://oidc.example/shared, jwksFile: /keys.json}
  - {name: team-b, issuer: https://oidc.example/shared/, jwksFile: /keys.json}
`))
	want := `clusters[1].issuer: cluster "team-b" has the issuer of cluster "team-a"`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "sharedIssuer: true") {
		t.Fatalf("err = %v, want %q and the opt-in named", err, want)
	}
	_, err = Parse([]byte(`
clusters:
  - {name: a, issuer: https://oidc.example/shared, discovery: true, sharedIssuer: true}
  - {name: b, issuer: https://oidc.example/shared, jwksURL: https://other.example/jwks}
`))
	if err == nil {
		t.Error("an opt-in on one side only was accepted")
	}
	if _, err := Parse([]byte(`
clusters:
  - {name: reviewed, issuer: https://oidc.example/one, discovery: true, sharedIssuer: true, tokenReview: {apiServer: "https://k8s:6443", tokenFile: /t}}
  - {name: unreviewed, issuer: https://oidc.example/one, discovery: true, sharedIssuer: true}
`)); err != nil {
		t.Errorf("both entries opted in: %v", err)
	}
}

func TestMaxTokenLifetime(t *testing.T) {
	f, err := Parse([]byte(`clusters: [{name: a, issuer: https://x, discovery: true, maxTokenLifetime: 24h}]`))
	if err != nil || f.Clusters[0].MaxTokenLifetime != 24*time.Hour {
		t.Fatalf("%v %v", f, err)
	}
	if _, err := Parse([]byte(`clusters: [{name: a, issuer: https://x, discovery: true, maxTokenLifetime: 1m}]`)); err == nil || !strings.Contains(err.Error(), "clusters[0].maxTokenLifetime:") {
		t.Errorf("1m accepted: %v", err)
	}
}

func TestPodTokenAuthNeedsTokenReview(t *testing.T) {
	f, err := Parse([]byte(`
clusters:
  - {name: reviewed, issuer: https://x, discovery: true, podTokenAuth: true, tokenReview: {apiServer: "https://k8s:6443", tokenFile: /t}}
`))
	if err != nil || !f.Clusters[0].PodTokenAuth {
		t.Fatalf("podTokenAuth with tokenReview: %v %+v", err, f)
	}
	_, err = Parse([]byte(`
clusters:
  - {name: bare, issuer: https://x, discovery: true, podTokenAuth: true}
`))
	want := `clusters[0].podTokenAuth: cluster "bare": requires tokenReview`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// Decode goes on past unknown keys, so that a check reports them with
// every other problem.
func TestDecodeKeepsGoingPastUnknownKeys(t *testing.T) {
	f, err := Decode([]byte("regoin: us-west-2\nclusters:\n  - name: prod\n    isuer: https://k8s.example\nlimits:\n  associationsPerCluster: many\n"))
	var ke *KeyErrors
	if !errors.As(err, &ke) || f == nil {
		t.Fatalf("Decode = %v, %v; want a File and *KeyErrors", f, err)
	}
	want := []string{`line 1: unknown key "regoin"`, `line 4: unknown key "isuer"`, "line 6: cannot unmarshal !!str `many` into int"}
	if len(ke.Problems) != len(want) {
		t.Fatalf("problems = %q, want %q", ke.Problems, want)
	}
	for i := range want {
		if ke.Problems[i] != want[i] {
			t.Errorf("problem %d = %q, want %q", i, ke.Problems[i], want[i])
		}
	}
	if len(f.Clusters) != 1 || f.Clusters[0].Name != "prod" {
		t.Errorf("clusters = %+v, want prod decoded around the unknown key", f.Clusters)
	}
}
