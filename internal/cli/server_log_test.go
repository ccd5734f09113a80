package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

const logTestSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-admin"

// The server's log, driven by the real SDKs through issuing and refusing:
// every refusal is logged at info with its reason in the client's
// vocabulary (operation names and AWS error codes as the metrics have
// them), a refused signature names its access key id, durations read as
// durations, no field is empty, and no token, secret key or session token
// ever appears.
func TestServerLogExplainsRefusalsAndKeepsSecrets(t *testing.T) {
	dir := t.TempDir()
	signer := writeClusterKeys(t, "https://issuer.example/demo", filepath.Join(dir, "jwks.json"))
	cfg, err := config.Parse([]byte(`
accountId: "111122223333"
storage: memory
clusters: [{name: demo, issuer: https://issuer.example/demo, jwksFile: ` + filepath.Join(dir, "jwks.json") + `}]
auth:
  principals:
    - {arn: "arn:aws:iam::111122223333:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: "` + logTestSecret + `", actions: ["eks:*", "eks-auth:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: info, format: json}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	logs := &testenv.Output{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewServerProgram(ctx, cfg, false, logs)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Run(ctx, &bytes.Buffer{}); close(done) }()
	defer func() { cancel(); <-done; p.Close() }()
	url := aws.String("http://" + p.Addr())
	admin := credentials.NewStaticCredentialsProvider("AKIAADMIN0000000", logTestSecret, "")
	wrongSecret := credentials.NewStaticCredentialsProvider("AKIAADMIN0000000", "not-the-secret-"+logTestSecret, "")

	if _, err := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: admin}).CreatePodIdentityAssociation(ctx,
		&eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"), Namespace: aws.String("default"), ServiceAccount: aws.String("app"),
			RoleArn: aws.String("arn:aws:iam::111122223333:role/app")}); err != nil {
		t.Fatal(err)
	}
	token, err := signer.Mint(tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: admin, RetryMaxAttempts: 1})
	out, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	issued := out.Credentials
	session := credentials.NewStaticCredentialsProvider(*issued.AccessKeyId, *issued.SecretAccessKey, *issued.SessionToken)
	if _, err := sts.New(sts.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: session}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}

	// Refusals.
	expired, err := signer.Mint(tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now().Add(-3*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{token + "\n", expired} {
		if _, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(tok)}); err == nil {
			t.Fatal("a refused token was accepted")
		}
	}
	if _, err := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: wrongSecret, RetryMaxAttempts: 1}).ListClusters(ctx, &eks.ListClustersInput{}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	// A session's signature made with the wrong secret: the refusal logs
	// the canonical request, whose signed headers carry the session token.
	wrongSessionSecret := credentials.NewStaticCredentialsProvider(*issued.AccessKeyId, "x"+*issued.SecretAccessKey, *issued.SessionToken)
	if _, err := sts.New(sts.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: wrongSessionSecret, RetryMaxAttempts: 1}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("a session signed with the wrong secret was accepted")
	}
	tampered := credentials.NewStaticCredentialsProvider(*issued.AccessKeyId, *issued.SecretAccessKey, *issued.SessionToken+"x")
	_, err = sts.New(sts.Options{Region: "us-west-2", BaseEndpoint: url, Credentials: tampered, RetryMaxAttempts: 1}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("a tampered session token: %v", err)
	}

	text := logs.String()
	secrets := map[string]string{"the pod's token": token, "the expired token": expired, "the principal's secret key": logTestSecret,
		"the issued secret key": *issued.SecretAccessKey, "the issued session token": *issued.SessionToken}
	for what, secret := range secrets {
		if strings.Contains(text, secret) {
			t.Errorf("the log carries %s", what)
		}
		for _, part := range strings.Split(secret, ".") {
			if len(part) >= 16 && strings.Contains(text, part) {
				t.Errorf("the log carries part of %s", what)
			}
		}
	}

	var requests []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		for k, v := range line {
			if v == nil || v == "" {
				t.Errorf("log line %q has an empty field %q", line["msg"], k)
			}
		}
		if line["msg"] == "request" {
			requests = append(requests, line)
			if d, ok := line["duration"].(string); !ok || !strings.HasSuffix(d, "s") {
				t.Errorf("duration %v is not a human-readable duration", line["duration"])
			}
			if line["level"] != "INFO" {
				t.Errorf("request line at %v, want INFO", line["level"])
			}
		}
	}
	find := func(operation, code, reason string, extra map[string]string) {
		t.Helper()
		for _, l := range requests {
			if l["operation"] != operation || l["code"] != code {
				continue
			}
			if r, _ := l["reason"].(string); !strings.Contains(r, reason) {
				continue
			}
			ok := true
			for k, v := range extra {
				ok = ok && l[k] == v
			}
			if ok {
				return
			}
		}
		t.Errorf("no request line with operation %s, code %s, reason containing %q and %v; lines:\n%s", operation, code, reason, extra, text)
	}
	find("GetCallerIdentity", "OK", "", nil)
	find("AssumeRoleForPodIdentity", "OK", "", nil)
	find("AssumeRoleForPodIdentity", "InvalidParameterException", "the token ends with a newline", nil)
	find("AssumeRoleForPodIdentity", "ExpiredTokenException", "", nil)
	find("ListClusters", "InvalidSignatureException", "signature", map[string]string{"access_key_id": "AKIAADMIN0000000"})
	find("GetCallerIdentity", api.ErrorCode(), "", map[string]string{"access_key_id": *issued.AccessKeyId})
	find("GetCallerIdentity", "SignatureDoesNotMatch", "signature", map[string]string{"access_key_id": *issued.AccessKeyId})
	for _, l := range requests {
		if l["code"] != "OK" && l["reason"] == nil {
			t.Errorf("refusal without a reason: %v", l)
		}
	}
}
