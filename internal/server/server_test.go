package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podidentity/podidentity/internal/authz"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

const (
	testAccount = "111122223333"
	testRole    = "arn:aws:iam::111122223333:role/app"
	adminKey    = "AKIAIOSFODNN7EXAMPLE"
	adminSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	adminARN    = "arn:aws:iam::111122223333:user/admin"
)

// testPrincipals: an administrator of every cluster, a reader of cluster
// demo only, a node that may only assume roles, a tagger that may tag and
// create, but not update, in cluster demo, and a tenant.
var testPrincipals = []authz.Principal{
	{ARN: adminARN, AccessKeyID: adminKey, SecretAccessKey: adminSecret,
		Grant: authz.Grant{Actions: []string{"eks:*"}, Clusters: []string{"*"}, PassRoles: []string{"*"}}},
	{ARN: "arn:aws:iam::111122223333:user/reader", AccessKeyID: "AKIAREADER0000000000", SecretAccessKey: "reader-secret",
		Grant: authz.Grant{Actions: []string{"eks:List*", "eks:Describe*"}, Clusters: []string{"demo"}}},
	{ARN: "arn:aws:iam::111122223333:role/node", AccessKeyID: "AKIANODE000000000000", SecretAccessKey: "node-secret",
		Grant: authz.Grant{Actions: []string{"eks-auth:AssumeRoleForPodIdentity"}, Clusters: []string{"*"}}},
	{ARN: taggerARN, AccessKeyID: taggerKey, SecretAccessKey: taggerSecret,
		Grant: authz.Grant{Actions: []string{"eks:TagResource", "eks:UntagResource", "eks:ListTagsForResource", "eks:CreatePodIdentityAssociation"},
			Clusters: []string{"demo"}, PassRoles: []string{testRole}}},
	{ARN: tenantARN, AccessKeyID: tenantKey, SecretAccessKey: tenantSecret,
		Grant: authz.Grant{Actions: []string{"eks:*"}, Clusters: []string{"demo"},
			PassRoles: []string{testRole, "arn:aws:iam::111122223333:role/team-a-*", "arn:aws:iam::444455556666:role/team-a-*"}}},
}

const (
	taggerARN    = "arn:aws:iam::111122223333:user/tagger"
	taggerKey    = "AKIATAGGER0000000000"
	taggerSecret = "tagger-secret"
)

// The tenant administers cluster demo and may pass only its own roles.
const (
	tenantARN    = "arn:aws:iam::111122223333:user/team-a"
	tenantKey    = "AKIATENANTA000000000"
	tenantSecret = "tenant-secret"
)

// testAuth is real SigV4 verification against testPrincipals.
func testAuth(t testing.TB) (*sigv4.Verifier[authz.Caller], *authz.Policy) {
	policy, err := authz.NewPolicy(testPrincipals, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &sigv4.Verifier[authz.Caller]{Lookup: policy.Lookup, Regions: []string{"us-west-2"}}, policy
}

type testEnv struct {
	url     string
	handler http.Handler
	eks     *eks.Client
	store   pi.Store
}

type envOption func(*pi.ServiceConfig)

func withLimit(n int) envOption { return func(c *pi.ServiceConfig) { c.AssociationLimit = n } }

// newEnv starts the real handler on a SQLite file behind httptest and
// returns an aws-sdk-go-v2 EKS client pointed at it.
func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	verifier, policy := testAuth(t)
	return newEnvAuth(t, verifier, policy, opts...)
}

// newEnvAuth is newEnv with authentication and authorization of the
// test's choosing.
func newEnvAuth(t testing.TB, verifier *sigv4.Verifier[authz.Caller], policy Authorizer, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := pi.ServiceConfig{
		Store:     store,
		Region:    "us-west-2",
		AccountID: testAccount,
		Clusters: []pi.ClusterSpec{
			{Name: "demo", Issuer: "https://issuer.example/demo", Endpoint: "https://10.0.0.1:6443"},
			{Name: "other", Issuer: "https://issuer.example/other"},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := pi.NewService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	h := New(Config{Service: svc, Store: store, Logger: log, Verifier: verifier, Authorizer: policy, Registry: prometheus.NewRegistry()})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testEnv{url: ts.URL, handler: h, eks: eksAs(ts.URL, adminKey, adminSecret), store: store}
}

// eksAs returns an EKS client signing with the given key.
func eksAs(url, key, secret string) *eks.Client {
	return eks.New(eks.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

// do sends a raw request signed by the administrator, so that what it
// tests is the handling of the request itself, not its authentication.
func do(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	return doSigned(t, method, url, body, "eks", adminKey, adminSecret)
}

// doSigned sends a raw request signed for service with key; key "" sends
// it unsigned.
func doSigned(t *testing.T, method, url, body, service, key, secret string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), service, "us-west-2", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
