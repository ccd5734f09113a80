package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

// `podidentity token --key --issuer` signs with a key the operator holds:
// the server, configured with that key's JWKS, accepts the token, and the
// AWS SDK's own EKS Auth client gets credentials with it.
func TestTokenCommandWithKeyFile(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "sa.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	signer, err := tokenmint.NewSigner(key, "https://issuer.example/onprem")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(signer.JWKS())
	os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
accountId: "111122223333"
storage: sqlite://%s
clusters:
  - name: onprem
    issuer: https://issuer.example/onprem
    jwksFile: %s
`+adminAuth, filepath.Join(dir, "db.sqlite"), filepath.Join(dir, "jwks.json")))
	srv := startServer(t, "--config", cfg)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, stderr, err := runCmd(t, ctx, binary, "token", "--key", keyFile, "--issuer", "https://issuer.example/onprem",
		"--namespace", "batch", "--service-account", "loader", "--pod-name", "loader-1", "--ttl", "10m")
	if err != nil || strings.ContainsAny(tok, "\n ") || strings.Count(tok, ".") != 2 {
		t.Fatalf("token: %q %v %s", tok, err, stderr)
	}
	creds := credentials.NewStaticCredentialsProvider(e2eKey, e2eSecret, "")
	ekc := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	if _, err := ekc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("onprem"),
		Namespace: aws.String("batch"), ServiceAccount: aws.String("loader"), RoleArn: aws.String("arn:aws:iam::111122223333:role/loader")}); err != nil {
		t.Fatal(err)
	}
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	out, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("onprem"), Token: aws.String(tok)})
	if err != nil {
		t.Fatalf("AssumeRoleForPodIdentity with the token command's token: %v", err)
	}
	if *out.Subject.ServiceAccount != "loader" || !strings.Contains(*out.AssumedRoleUser.Arn, "assumed-role/loader/eks-onprem-loader-1-") ||
		!strings.HasPrefix(*out.Credentials.AccessKeyId, "ASIA") || out.Credentials.Expiration.Before(time.Now().Add(5*time.Hour)) {
		t.Errorf("unexpected response: subject %+v role %s", *out.Subject, *out.AssumedRoleUser.Arn)
	}
	// Without --issuer the command refuses rather than minting a token no
	// cluster would accept.
	if _, stderr, err := runCmd(t, ctx, binary, "token", "--key", keyFile, "--service-account", "x"); err == nil || !strings.Contains(stderr, "--issuer is required") {
		t.Errorf("token without --issuer: %v %s", err, stderr)
	}
}
