package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/credentials/session"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// tokenReviewAPI is a kube-apiserver's TokenReview endpoint that
// authenticates every token as system:serviceaccount:app:web while live is
// set, and refuses every token otherwise (a deleted pod's token).
type tokenReviewAPI struct {
	live    atomic.Bool
	reviews atomic.Int64
}

func (a *tokenReviewAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.reviews.Add(1)
	status := map[string]any{"authenticated": false, "error": "pod app/web-1 is gone"}
	if a.live.Load() {
		status = map[string]any{"authenticated": true, "user": map[string]any{"username": "system:serviceaccount:app:web"}}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
}

type podTokenEnv struct {
	url    string
	signer *tokenmint.Signer
	api    *tokenReviewAPI
}

// newPodTokenEnv serves clusters "demo" (podTokenAuth) and "other" (not),
// both validating tokens with TokenReview against one API server, and an
// association app/web in each.
func newPodTokenEnv(t *testing.T) *podTokenEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	api := &tokenReviewAPI{}
	api.live.Store(true)
	apiServer, caFile := testenv.TLSServer(t, api)
	bearerFile := filepath.Join(dir, "bearer")
	if err := os.WriteFile(bearerFile, []byte("reviewer-token"), 0o600); err != nil {
		t.Fatal(err)
	}

	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	const issuerURL = "https://issuer.example/demo"
	signer, err := tokenmint.NewSigner(key, issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	review := &satoken.TokenReviewConfig{APIServer: apiServer.URL, CAFile: caFile, TokenFile: bearerFile}
	validator, err := satoken.New([]satoken.ClusterConfig{
		{Name: "demo", Issuer: issuerURL, StaticKeys: signer.JWKS(), TokenReview: review},
		{Name: "other", Issuer: issuerURL, StaticKeys: signer.JWKS(), TokenReview: review},
	}, satoken.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	k, _ := local.GenerateKey("k1", nil)
	ring, _ := local.NewKeyring(k)
	issuer, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: testAccount})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pi.NewService(ctx, pi.ServiceConfig{
		Store: store, Region: "us-west-2", AccountID: testAccount,
		Clusters:         []pi.ClusterSpec{{Name: "demo", Issuer: issuerURL}, {Name: "other", Issuer: issuerURL}},
		Credentials:      &pi.CredentialDeps{Validator: validator, Issuer: issuer, SessionName: session.DefaultName},
		CredentialPolicy: pi.CredentialPolicy{Duration: time.Hour, ChainedDuration: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"demo", "other"} {
		if _, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: c, Namespace: "app", ServiceAccount: "web", RoleARN: testRole}); err != nil {
			t.Fatal(err)
		}
	}
	verifier, policy := testAuth(t)
	h := New(Config{Service: svc, Store: store, Verifier: verifier, Authorizer: policy, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), PodTokenClusters: []string{"demo"}})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &podTokenEnv{url: ts.URL, signer: signer, api: api}
}

func (e *podTokenEnv) token(t *testing.T) string {
	t.Helper()
	tok, err := e.signer.Mint(tokenmint.Pod{Namespace: "app", ServiceAccount: "web", PodName: "web-1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// eksAuthClient is the real EKS Auth client; anonymous credentials send
// its requests unsigned, as the in-pod sidecar agent does.
func eksAuthClient(url string, creds aws.CredentialsProvider) *eksauth.Client {
	o := eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1}
	if _, ok := creds.(aws.AnonymousCredentials); ok {
		// EKS Auth's model knows SigV4 only: without this, the client
		// refuses anonymous credentials ("could not select an auth scheme").
		o.AuthSchemeResolver = anonymousAuth{}
	}
	return eksauth.New(o)
}

type anonymousAuth struct{}

func (anonymousAuth) ResolveAuthSchemes(context.Context, *eksauth.AuthResolverParameters) ([]*smithyauth.Option, error) {
	return []*smithyauth.Option{{SchemeID: smithyauth.SchemeIDAnonymous}}, nil
}

func wantErrorCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func assumeRole(client *eksauth.Client, cluster, token string) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
	return client.AssumeRoleForPodIdentity(context.Background(), &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(cluster), Token: aws.String(token)})
}

func TestPodTokenAuthUnsignedCallServed(t *testing.T) {
	e := newPodTokenEnv(t)
	anon := eksAuthClient(e.url, aws.AnonymousCredentials{})
	out, err := assumeRole(anon, "demo", e.token(t))
	if err != nil {
		t.Fatalf("unsigned call for a podTokenAuth cluster: %v", err)
	}
	if out.Subject == nil || aws.ToString(out.Subject.ServiceAccount) != "web" || out.Credentials == nil || aws.ToString(out.Credentials.AccessKeyId) == "" {
		t.Fatalf("answer = %+v", out)
	}
	if e.api.reviews.Load() == 0 {
		t.Error("the token was not confirmed by TokenReview")
	}
}

func TestPodTokenAuthNeedsALivePod(t *testing.T) {
	e := newPodTokenEnv(t)
	e.api.live.Store(false)
	_, err := assumeRole(eksAuthClient(e.url, aws.AnonymousCredentials{}), "demo", e.token(t))
	wantErrorCode(t, err, "InvalidTokenException")
}

func TestPodTokenAuthOnlyWhereAllowed(t *testing.T) {
	e := newPodTokenEnv(t)
	anon := eksAuthClient(e.url, aws.AnonymousCredentials{})
	// A cluster without podTokenAuth keeps AWS's answer to an unsigned call.
	_, err := assumeRole(anon, "other", e.token(t))
	wantErrorCode(t, err, "MissingAuthenticationTokenException")
	// So does an unknown cluster.
	_, err = assumeRole(anon, "nope", e.token(t))
	wantErrorCode(t, err, "MissingAuthenticationTokenException")
	// Other operations on the cluster stay signed-only.
	eksAnon := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(e.url), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	_, err = eksAnon.ListPodIdentityAssociations(context.Background(), &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo")})
	wantErrorCode(t, err, "MissingAuthenticationTokenException")
	// A signature is verified as ever, even where a token alone would do.
	forged := eksAuthClient(e.url, credentials.NewStaticCredentialsProvider("AKIANODE000000000000", "not-the-secret", ""))
	_, err = assumeRole(forged, "demo", e.token(t))
	wantErrorCode(t, err, "InvalidSignatureException")
	// And a signed caller is still authorized by its grant.
	reader := eksAuthClient(e.url, credentials.NewStaticCredentialsProvider("AKIAREADER0000000000", "reader-secret", ""))
	_, err = assumeRole(reader, "demo", e.token(t))
	wantErrorCode(t, err, "AccessDeniedException")
	node := eksAuthClient(e.url, credentials.NewStaticCredentialsProvider("AKIANODE000000000000", "node-secret", ""))
	if _, err := assumeRole(node, "other", e.token(t)); err != nil {
		t.Errorf("node-signed call: %v", err)
	}
}
