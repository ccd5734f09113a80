package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	authtypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

const tokenIssuer = "https://issuer.example/onprem"

// keyedServer is a configured (not --dev) server whose cluster "onprem"
// trusts a key written to the returned PEM file, with an association for
// default/app.
func keyedServer(t *testing.T) (url, keyFile, pubFile, jwksFile string) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	signer, err := tokenmint.NewSigner(key, tokenIssuer)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(signer.JWKS())
	keyFile, pubFile, jwksFile = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub"), filepath.Join(dir, "jwks.json")
	for file, b := range map[string][]byte{
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pubFile:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		jwksFile: jwks,
	} {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse([]byte(`
accountId: "111122223333"
storage: memory
clusters: [{name: onprem, issuer: ` + tokenIssuer + `, jwksFile: ` + jwksFile + `}]
auth:
  principals:
    - {arn: "arn:aws:iam::111122223333:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*", "eks-auth:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: error}
`))
	if err != nil {
		t.Fatal(err)
	}
	url = "http://" + startProgram(t, cfg, false)
	_, err = eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: adminCreds}).CreatePodIdentityAssociation(context.Background(),
		&eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("onprem"), Namespace: aws.String("default"), ServiceAccount: aws.String("app"),
			RoleArn: aws.String("arn:aws:iam::111122223333:role/app")})
	if err != nil {
		t.Fatal(err)
	}
	return url, keyFile, pubFile, jwksFile
}

var adminCreds = credentials.NewStaticCredentialsProvider("AKIAADMIN0000000", "s", "")

// token --audience mints a token EKS Auth must refuse, and refuses it
// for the reason a tester is after; the default audience is accepted.
func TestTokenAudience(t *testing.T) {
	url, keyFile, _, _ := keyedServer(t)
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: adminCreds, RetryMaxAttempts: 1})
	exchange := func(extra ...string) error {
		t.Helper()
		file := filepath.Join(t.TempDir(), "token")
		args := append([]string{"token", "--key", keyFile, "--issuer", tokenIssuer, "--service-account", "app", "--output", file}, extra...)
		if _, stderr, code := run(t, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", args, code, stderr)
		}
		tok, _ := os.ReadFile(file)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("onprem"), Token: aws.String(string(tok))})
		return err
	}
	if err := exchange(); err != nil {
		t.Fatalf("the default audience: %v", err)
	}
	err := exchange("--audience", "sts.amazonaws.com")
	var invalid *authtypes.InvalidTokenException
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), `"sts.amazonaws.com"`) ||
		!strings.Contains(invalid.ErrorMessage(), `does not include "pods.eks.amazonaws.com"`) {
		t.Errorf("--audience sts.amazonaws.com: %v, want InvalidTokenException naming both audiences", err)
	}
}

// --key given the cluster's public half says it needs the private key.
func TestTokenKeyMustBePrivate(t *testing.T) {
	_, keyFile, pubFile, jwksFile := keyedServer(t)
	for _, file := range []string{pubFile, jwksFile} {
		_, stderr, code := run(t, "token", "--key", file, "--issuer", tokenIssuer, "--service-account", "app")
		if code != 1 || !strings.Contains(stderr, "holds a public key") || !strings.Contains(stderr, "private key") {
			t.Errorf("--key %s: exit %d, %q", filepath.Base(file), code, stderr)
		}
	}
	if out, stderr, code := run(t, "token", "--key", keyFile, "--issuer", tokenIssuer, "--service-account", "app"); code != 0 || strings.Count(out, ".") != 2 {
		t.Errorf("--key with the private key: exit %d, %q %q", code, out, stderr)
	}
}

// token without --key asks the server; a configured server mints no
// tokens, and the message says what to do instead.
func TestTokenFromConfiguredServer(t *testing.T) {
	url, _, _, _ := keyedServer(t)
	_, stderr, code := run(t, "token", "--endpoint", url, "--cluster", "onprem", "--service-account", "app")
	if code != 1 || !strings.Contains(stderr, "only `podidentity server --dev` does") || !strings.Contains(stderr, "--key FILE --issuer URL") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// token --audience works against a --dev server too: the server mints the
// token with that audience, and EKS Auth refuses it for that reason.
func TestTokenAudienceFromDevServer(t *testing.T) {
	url := "http://" + startProgram(t, devConfig(), true)
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: adminCreds, RetryMaxAttempts: 1})
	exchange := func(extra ...string) error {
		t.Helper()
		args := append([]string{"token", "--endpoint", url, "--service-account", "app"}, extra...)
		tok, stderr, code := run(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", args, code, stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(strings.TrimSpace(tok))})
		return err
	}
	var invalid *authtypes.InvalidTokenException
	if err := exchange(); errors.As(err, &invalid) {
		t.Fatalf("the default audience: %v", err)
	}
	err := exchange("--audience", "sts.amazonaws.com")
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), `"sts.amazonaws.com"`) {
		t.Errorf("--audience sts.amazonaws.com from the dev server: %v, want InvalidTokenException naming it", err)
	}
}
