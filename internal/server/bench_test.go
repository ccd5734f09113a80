package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/credentials/session"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// BenchmarkAssumeRoleForPodIdentity measures the server's own work per
// request (routing, JSON, token validation, association lookup, minting)
// with the real components, minus the network.
func BenchmarkAssumeRoleForPodIdentity(b *testing.B) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	signer, _ := tokenmint.NewSigner(key, "https://bench.example")
	validator, err := satoken.New([]satoken.ClusterConfig{{Name: "demo", Issuer: "https://bench.example", StaticKeys: signer.JWKS()}}, satoken.Options{})
	if err != nil {
		b.Fatal(err)
	}
	k, _ := local.GenerateKey("k1", nil)
	ring, _ := local.NewKeyring(k)
	issuer, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: testAccount})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := pi.NewService(ctx, pi.ServiceConfig{
		Store: store, Region: "us-west-2", AccountID: testAccount,
		Clusters:         []pi.ClusterSpec{{Name: "demo", Issuer: "https://bench.example"}},
		Credentials:      &pi.CredentialDeps{Validator: validator, Issuer: issuer, SessionName: session.DefaultName},
		CredentialPolicy: pi.CredentialPolicy{Duration: 6 * time.Hour, ChainedDuration: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	const accounts, pods = 50, 1000
	for i := range accounts {
		if _, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "load",
			ServiceAccount: fmt.Sprintf("sa-%d", i), RoleARN: testRole}); err != nil {
			b.Fatal(err)
		}
	}
	bodies := make([]string, pods)
	for i := range pods {
		tok, _ := signer.Mint(tokenmint.Pod{Namespace: "load", ServiceAccount: fmt.Sprintf("sa-%d", i%accounts), PodName: fmt.Sprintf("p-%d", i)}, time.Now(), time.Hour)
		body, _ := json.Marshal(map[string]string{"token": tok})
		bodies[i] = string(body)
	}
	verifier, policy := testAuth(b)
	h := New(Config{Service: svc, Store: store, Verifier: verifier, Authorizer: policy, Registry: prometheus.NewRegistry()})
	// Sign each pod's request once, as the node agent would, so the loop
	// measures the server's verification but not the client's signing.
	headers := make([]http.Header, pods)
	for i := range pods {
		req := httptest.NewRequest("POST", "/clusters/demo/assume-role-for-pod-identity", strings.NewReader(bodies[i]))
		sum := sha256.Sum256([]byte(bodies[i]))
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "AKIANODE000000000000", SecretAccessKey: "node-secret"},
			req, hex.EncodeToString(sum[:]), "eks-auth", "us-west-2", time.Now()); err != nil {
			b.Fatal(err)
		}
		headers[i] = req.Header
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/clusters/demo/assume-role-for-pod-identity", strings.NewReader(bodies[i%pods]))
		req.Header = headers[i%pods].Clone()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
