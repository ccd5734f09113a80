package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
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
	"github.com/aws/smithy-go"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// startProgram runs a server program on 127.0.0.1:0 until the test ends.
func startProgram(t *testing.T, cfg *config.File, dev bool) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	p, err := NewServerProgram(ctx, cfg, dev, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Run(ctx, io.Discard); close(done) }()
	t.Cleanup(func() { cancel(); <-done; p.Close() })
	return p.Addr()
}

// send sends an unsigned request to addr carrying the given Host header.
func send(t *testing.T, method, addr, host, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return do(t, req)
}

// do sends req and returns the answer's status, header and body.
func do(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The dev server answers only to loopback names: a page that points a DNS
// name of its own at 127.0.0.1 (DNS rebinding) must not reach the token
// endpoint or the APIs, which take any access key in dev mode.
func TestDevServerAnswersOnlyLoopbackNames(t *testing.T) {
	addr := startProgram(t, devConfig(), true)
	_, port, _ := net.SplitHostPort(addr)
	tokenReq := `{"cluster":"demo","namespace":"default","serviceAccount":"app"}`
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LOCALHOST", "127.0.0.1"} {
		if status, _, body := send(t, "POST", addr, host, "/podidentity/dev/token", tokenReq); status != 200 {
			t.Errorf("Host %s: %d %s", host, status, body)
		}
	}
	for _, host := range []string{"rebind.attacker.example:" + port, "127.0.0.1.nip.io:" + port, "10.0.0.1:" + port} {
		status, hdr, body := send(t, "POST", addr, host, "/podidentity/dev/token", tokenReq)
		var doc struct{ Message string }
		json.Unmarshal([]byte(body), &doc)
		if status != 403 || hdr.Get("X-Amzn-ErrorType") != "InvalidSignatureException" ||
			!strings.Contains(doc.Message, "Host '"+host+"' is not a name of this development server") {
			t.Errorf("Host %s: %d %s %s, want 403 InvalidSignatureException naming the host", host, status, hdr.Get("X-Amzn-ErrorType"), body)
		}
		// STS answers in its own dialect.
		if status, _, body := send(t, "GET", addr, host, "/?Action=GetCallerIdentity&Version=2011-06-15", ""); status != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
			t.Errorf("STS with Host %s: %d %s", host, status, body)
		}
	}
}

// A web page can make a browser POST to the dev server with the signature
// in the query string and a text/plain body (no CORS preflight); as any
// access key is an administrator there, the page could create an
// association naming its own role. Requests a browser marks as coming from
// a page are refused; the same request from an SDK is served.
func TestDevServerRefusesWebPages(t *testing.T) {
	addr := startProgram(t, devConfig(), true)
	now := time.Now().UTC()
	create := func(sa string, header http.Header) (int, http.Header, string) {
		t.Helper()
		q := url.Values{
			"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
			"X-Amz-Credential":    {"AKIAATTACKER00000000/" + now.Format("20060102") + "/us-west-2/eks/aws4_request"},
			"X-Amz-Date":          {now.Format("20060102T150405Z")},
			"X-Amz-Expires":       {"300"},
			"X-Amz-SignedHeaders": {"host"},
			"X-Amz-Signature":     {strings.Repeat("0", 64)},
		}
		body := `{"namespace":"default","serviceAccount":"` + sa + `","roleArn":"arn:aws:iam::123456789012:role/attacker"}`
		req, err := http.NewRequest("POST", "http://"+addr+"/clusters/demo/pod-identity-associations?"+q.Encode(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		for k, v := range header {
			req.Header[k] = v
		}
		return do(t, req)
	}
	for name, h := range map[string]http.Header{
		"Origin":                    {"Origin": {"https://attacker.example"}},
		"Origin null":               {"Origin": {"null"}},
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": {"same-site"}},
	} {
		status, hdr, body := create("victim", h)
		if status != 403 || hdr.Get("X-Amzn-ErrorType") != "AccessDeniedException" || !strings.Contains(body, "refuses requests from web pages") {
			t.Errorf("%s: %d %s %s, want 403 AccessDeniedException", name, status, hdr.Get("X-Amzn-ErrorType"), body)
		}
	}
	// The request itself is one the dev server serves: only the browser's
	// marks refuse it. Sec-Fetch-Site none is an address the user typed.
	if status, _, body := create("victim", nil); status != 200 {
		t.Fatalf("without browser headers: %d %s", status, body)
	}
	if status, _, body := create("typed", http.Header{"Sec-Fetch-Site": {"none"}}); status != 200 {
		t.Errorf("Sec-Fetch-Site none: %d %s", status, body)
	}
}

// --dev makes anyone who reaches the server its administrator, so it
// refuses to listen beyond loopback.
func TestDevServerListensOnLoopbackOnly(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0"} {
		var stderr strings.Builder
		// Bounded: without the check the server would serve until ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if code := Run(ctx, []string{"server", "--dev", "--listen", listen}, io.Discard, &stderr); code != 1 ||
			!strings.Contains(stderr.String(), "--dev accepts any access key as an administrator, so it listens only on a loopback address") {
			t.Errorf("--dev --listen %s: exit %d, %q", listen, code, stderr.String())
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		cfg := devConfig()
		cfg.Listen = listen
		p, err := NewServerProgram(context.Background(), cfg, true, io.Discard)
		if err != nil {
			if strings.Contains(err.Error(), "--dev") {
				t.Errorf("--dev --listen %s: %v", listen, err)
			}
			continue // no IPv6 loopback here
		}
		p.Close()
	}
}

// With hostnames configured, a request signed for another Host is refused
// naming that host; one signed for a configured name is served.
func TestConfiguredHostnames(t *testing.T) {
	cfg, err := config.Parse([]byte(`
accountId: "111122223333"
storage: memory
hostnames: ["podidentity.example.com", "default-port.example.com:80"]
clusters: [{name: demo, issuer: https://issuer.example/demo, discovery: true}]
auth:
  principals:
    - {arn: "arn:aws:iam::111122223333:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: error}
`))
	if err != nil {
		t.Fatal(err)
	}
	addr := startProgram(t, cfg, false)
	_, port, _ := net.SplitHostPort(addr)
	// Every name resolves to the server, as DNS would for its real names.
	httpClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	client := func(endpoint string) *eks.Client {
		return eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(endpoint), HTTPClient: httpClient, RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKIAADMIN0000000", "s", "")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client("http://podidentity.example.com:"+port).ListClusters(ctx, &eks.ListClustersInput{}); err != nil {
		t.Errorf("signed for a configured name: %v", err)
	}
	// The SDK leaves the default port out of the Host it signs.
	if _, err := client("http://default-port.example.com").ListClusters(ctx, &eks.ListClustersInput{}); err != nil {
		t.Errorf("signed for a configured name with its default port: %v", err)
	}
	_, err = client("http://"+addr).ListClusters(ctx, &eks.ListClustersInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" || !strings.Contains(api.ErrorMessage(), "'"+addr+"'") {
		t.Errorf("signed for %s: %v, want InvalidSignatureException naming the host", addr, err)
	}
}

// A cluster's maxTokenLifetime reaches AssumeRoleForPodIdentity: a token
// issued for longer is an InvalidTokenException, one within it works.
func TestMaxTokenLifetimeServed(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tokenmint.NewSigner(key, "https://issuer.example/demo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwks, _ := json.Marshal(signer.JWKS())
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
accountId: "111122223333"
storage: memory
clusters: [{name: demo, issuer: https://issuer.example/demo, jwksFile: ` + filepath.Join(dir, "jwks.json") + `, maxTokenLifetime: 24h}]
auth:
  principals:
    - {arn: "arn:aws:iam::111122223333:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*", "eks-auth:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: error}
`))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + startProgram(t, cfg, false)
	creds := credentials.NewStaticCredentialsProvider("AKIAADMIN0000000", "s", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: creds}).CreatePodIdentityAssociation(ctx,
		&eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"), Namespace: aws.String("default"), ServiceAccount: aws.String("app"),
			RoleArn: aws.String("arn:aws:iam::111122223333:role/app")})
	if err != nil {
		t.Fatal(err)
	}
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1})
	pod := tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}
	for _, tc := range []struct {
		ttl time.Duration
		ok  bool
	}{{24 * time.Hour, true}, {48 * time.Hour, false}} {
		tok, err := signer.Mint(pod, time.Now(), tc.ttl)
		if err != nil {
			t.Fatal(err)
		}
		_, err = auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(tok)})
		var invalid *authtypes.InvalidTokenException
		if tc.ok && err != nil || !tc.ok && !errors.As(err, &invalid) {
			t.Errorf("token for %s: %v", tc.ttl, err)
		}
	}
}

// The server's ARNs and the role ARNs it accepts are in its region's
// partition: on us-gov-west-1, arn:aws-us-gov, as AWS writes them there.
func TestServerPartitionFollowsRegion(t *testing.T) {
	_, _, _, jwksFile := keyedServer(t)
	cfg, err := config.Parse([]byte(`
region: us-gov-west-1
accountId: "111122223333"
storage: memory
clusters: [{name: gov, issuer: ` + tokenIssuer + `, jwksFile: ` + jwksFile + `}]
auth:
  principals:
    - {arn: "arn:aws-us-gov:iam::111122223333:user/admin", accessKeyId: AKIAADMIN0000000, secretAccessKey: s, actions: ["eks:*"], clusters: ["*"], passRoles: ["*"]}
log: {level: error}
`))
	if err != nil {
		t.Fatal(err)
	}
	client := eks.New(eks.Options{Region: "us-gov-west-1", BaseEndpoint: aws.String("http://" + startProgram(t, cfg, false)), Credentials: adminCreds, RetryMaxAttempts: 1})
	create := func(role, target string) (*eks.CreatePodIdentityAssociationOutput, error) {
		in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("gov"), Namespace: aws.String("default"),
			ServiceAccount: aws.String("app"), RoleArn: aws.String(role)}
		if target != "" {
			in.TargetRoleArn = aws.String(target)
		}
		return client.CreatePodIdentityAssociation(context.Background(), in)
	}
	if _, err := create("arn:aws:iam::111122223333:role/app", ""); err == nil || !strings.Contains(err.Error(), "partition aws-us-gov") {
		t.Errorf("an aws-partition role on us-gov-west-1: %v, want refused naming aws-us-gov", err)
	}
	out, err := create("arn:aws-us-gov:iam::111122223333:role/app", "arn:aws-us-gov:iam::444455556666:role/target")
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Association.AssociationArn); !strings.HasPrefix(got, "arn:aws-us-gov:eks:us-gov-west-1:111122223333:podidentityassociation/gov/") {
		t.Errorf("association ARN %q, want it in aws-us-gov", got)
	}
}

// A configuration without clusters starts, and its log says why nothing
// will work, at once rather than at the first refused request.
func TestServerWarnsWithoutClusters(t *testing.T) {
	cfg, err := config.Parse([]byte("storage: memory\nlisten: 127.0.0.1:0\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p, err := NewServerProgram(context.Background(), cfg, false, &logs)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if !strings.Contains(logs.String(), "clusters: none declared") {
		t.Errorf("log without the warning:\n%s", logs.String())
	}
}
