package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// The agent tests run the server, the agent on 169.254.170.23:80 and pods'
// processes inside a network namespace the test creates, so that nothing
// outside it is touched. The node's and an administrator's keys are
// principals of the server.
const (
	agentIP          = "169.254.170.23"
	agentIPv6        = "fd00:ec2::23"
	agentNodeKey     = "AKIAAGENTNODE0000000"
	agentNodeSecret  = "agent-node-secret-0000000000000000000000"
	agentAdminKey    = "AKIAAGENTADMIN000000"
	agentAdminSecret = "agent-admin-secret-000000000000000000000"
	agentAccount     = "111122223333"
	agentNetnsEnv    = "PODIDENTITY_E2E_NETNS"
)

// inAgentNetns runs the calling test in a fresh network namespace. Outside, it
// re-executes this test binary for this test alone under `unshare -n`,
// reports the result and returns false; inside, it brings lo up with the
// agent's addresses and returns true. IPv6 is added when the kernel has it;
// the result says whether it was.
func inAgentNetns(t *testing.T) (inside, ipv6 bool) {
	t.Helper()
	if os.Getenv(agentNetnsEnv) == t.Name() {
		agentIPCmd(t, "ip", "link", "set", "lo", "up")
		agentIPCmd(t, "ip", "addr", "add", agentIP+"/32", "dev", "lo")
		ipv6 = exec.Command("ip", "-6", "addr", "add", agentIPv6+"/128", "dev", "lo", "nodad").Run() == nil
		return true, ipv6
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the agent tests create a network namespace with unshare -n)")
	}
	unshare := testenv.LookPath(t, "unshare")
	testenv.LookPath(t, "ip")
	if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("permission to create network namespaces (unshare -n: %v: %s)", err, out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", "--", os.Args[0],
		"-test.run", "^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1", "-test.timeout=170s")
	cmd.Env = append(os.Environ(), agentNetnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skipf("skipped inside the network namespace:\n%s", out)
	case err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("inside the network namespace: %v\n%s", err, out)
	}
	t.Logf("inside the network namespace:\n%s", out)
	return false, false
}

func agentIPCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func agentServerConfig(t *testing.T, dir string, keys *clusterKeys) string {
	return writeConfig(t, dir, fmt.Sprintf(`
accountId: "%[1]s"
storage: sqlite://%[2]s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %[3]s
auth:
  principals:
    - arn: arn:aws:iam::%[1]s:user/agent-e2e-admin
      accessKeyId: %[4]s
      secretAccessKey: %[5]s
      actions: ["eks:*"]
      clusters: ["*"]
      passRoles: ["*"]
    - arn: arn:aws:iam::%[1]s:role/node
      accessKeyId: %[6]s
      secretAccessKey: %[7]s
      actions: ["eks-auth:AssumeRoleForPodIdentity"]
      clusters: ["*"]
log:
  format: json
`, agentAccount, filepath.Join(dir, "db.sqlite"), keys.jwks, agentAdminKey, agentAdminSecret, agentNodeKey, agentNodeSecret))
}

// agentProc is a running `podidentity agent`.
type agentProc struct {
	*testenv.Process
	credURLs   []string
	probeURL   string
	metricsURL string
}

var (
	agentCredLine    = regexp.MustCompile(`serving credentials on (http://\S+)`)
	agentProbeLine   = regexp.MustCompile(`probes on (http://\S+)`)
	agentMetricsLine = regexp.MustCompile(`metrics on (http://\S+)`)
)

// agentEnv is a node's: its own keys and region, nothing else of the test's.
func agentEnv() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=" + agentNodeKey,
		"AWS_SECRET_ACCESS_KEY=" + agentNodeSecret,
		"AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return append(env, passThrough("PATH", "HOME")...)
}

// startAgent runs `podidentity agent` and waits until it says where it serves.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"agent"}, args...)...)
	cmd.Env = agentEnv()
	a := &agentProc{}
	// The metrics line is the last of the three the agent prints.
	a.Process = testenv.Start(t, "agent", cmd, func(line string) bool {
		if m := agentCredLine.FindStringSubmatch(line); m != nil {
			a.credURLs = append(a.credURLs, m[1])
		} else if m := agentProbeLine.FindStringSubmatch(line); m != nil {
			a.probeURL = m[1]
		} else if m := agentMetricsLine.FindStringSubmatch(line); m != nil {
			a.metricsURL = m[1]
			return true
		}
		return false
	})
	return a
}

// waitLog waits a little for the agent's stderr to say s.
func (a *agentProc) waitLog(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(a.Logs.String(), s) {
			return true
		}
	}
	return false
}

// eksAuthProxy stands between the agent and the server: it counts the
// AssumeRoleForPodIdentity calls that reach EKS Auth, can answer some with
// ThrottlingException, and drops connections when the server is gone, as
// an unreachable endpoint does.
type eksAuthProxy struct {
	URL      string
	throttle atomic.Int64 // answer this many calls with 429
	mu       sync.Mutex
	calls    []time.Time
}

func newEKSAuthProxy(t *testing.T, target string) *eksAuthProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &eksAuthProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the agent signed this Host
		},
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/assume-role-for-pod-identity") {
			p.mu.Lock()
			p.calls = append(p.calls, time.Now())
			p.mu.Unlock()
			if p.throttle.Add(-1) >= 0 {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"message":"Rate exceeded"}`)
				return
			}
			p.throttle.Store(0)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// since returns the times of the calls after the first n.
func (p *eksAuthProxy) since(n int) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.calls[n:]...)
}

func (p *eksAuthProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// agentPodEnv is a pod container's environment as EKS Pod Identity sets it.
func agentPodEnv(tokenFile string) []string {
	var env []string
	for _, kv := range awsEnv() {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://"+agentIP+"/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+tokenFile)
}

// agentPodIdentity is what a pod's process reports: the credentials it got and,
// when it called STS, who it is.
type agentPodIdentity struct {
	Method, Source, AccessKeyID, AccountID, Arn, Account string
}

func (p *agentPodIdentity) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	s := func(k string) string { v, _ := m[k].(string); return v }
	*p = agentPodIdentity{Method: s("method"), Source: s("source"), AccessKeyID: s("accessKeyId"), AccountID: s("accountId"),
		Arn: s("arn"), Account: s("account")}
	return nil
}

func runAgentPod(t *testing.T, tokenFile string, name string, args ...string) agentPodIdentity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, stderr, err := runCmdEnv(t, ctx, agentPodEnv(tokenFile), name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", filepath.Base(name), args, err, out, stderr)
	}
	var id agentPodIdentity
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatalf("%s printed %q: %v", filepath.Base(name), out, err)
	}
	return id
}

// buildAgentClient builds the aws-sdk-go-v2 pod program.
func buildAgentClient(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentclient")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/agentclient").CombinedOutput()
	if err != nil {
		t.Fatalf("building testdata/agentclient: %v\n%s", err, out)
	}
	return bin
}

// agentHTTP talks to the agent directly, as a pod's HTTP stack does, never
// through a proxy from the environment.
var agentHTTP = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256},
}

func agentCredRequest(t *testing.T, host, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+agentIP+"/v1/credentials", nil)
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := agentHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrapeAgent(t *testing.T, u string) string {
	t.Helper()
	resp, err := agentHTTP.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// agentMetric finds a sample in Prometheus text and returns its value.
func agentMetric(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// TestAgentEndToEnd: our server and our agent on 169.254.170.23:80; pods'
// processes with boto3 and aws-sdk-go-v2 reach STS with the agent's
// credentials; bursts, throttling and a dead server.
func TestAgentEndToEnd(t *testing.T) {
	inside, ipv6 := inAgentNetns(t)
	if !inside {
		return
	}
	py := testenv.Python(t, "boto3")
	goPod := buildAgentClient(t)
	dir := t.TempDir()
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	srv := startServer(t, "--config", agentServerConfig(t, dir, keys))
	proxy := newEKSAuthProxy(t, srv.URL)
	agent := startAgent(t, "--cluster-name", "demo", "--endpoint", proxy.URL)

	wantURLs := []string{"http://" + agentIP + ":80/v1/credentials"}
	if ipv6 {
		wantURLs = append(wantURLs, "http://["+agentIPv6+"]:80/v1/credentials")
	}
	if strings.Join(agent.credURLs, " ") != strings.Join(wantURLs, " ") {
		t.Fatalf("agent serves on %v, want %v", agent.credURLs, wantURLs)
	}

	admin := eks.New(eks.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(agentAdminKey, agentAdminSecret, ""),
		HTTPClient:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}},
	})
	if _, err := admin.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("default"), ServiceAccount: aws.String("app"),
		RoleArn: aws.String("arn:aws:iam::" + agentAccount + ":role/app"),
	}); err != nil {
		t.Fatalf("creating the association: %v", err)
	}
	// pod mints a token for a pod of default/app and writes it where the
	// kubelet would, without a trailing newline.
	pod := func(name string) (tokenFile, token string) {
		token = keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: name}, time.Now(), 24*time.Hour)
		tokenFile = filepath.Join(dir, name+".token")
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		return tokenFile, token
	}
	wantRole := func(t *testing.T, id agentPodIdentity, podName string) {
		t.Helper()
		if id.Account != agentAccount || !strings.HasPrefix(id.Arn, "arn:aws:sts::"+agentAccount+":assumed-role/app/eks-demo-"+podName+"-") {
			t.Errorf("get-caller-identity: account %q arn %q, want the role app for pod %s", id.Account, id.Arn, podName)
		}
		if id.AccountID != agentAccount || !strings.HasPrefix(id.AccessKeyID, "ASIA") {
			t.Errorf("credentials: account id %q, access key %q", id.AccountID, id.AccessKeyID)
		}
	}

	botoFile, botoToken := pod("boto-0")
	var botoKey string
	t.Run("boto3", func(t *testing.T) {
		id := runAgentPod(t, botoFile, py, "testdata/agent_pod.py", srv.URL)
		if id.Method != "container-role" {
			t.Errorf("boto3 took credentials from %q", id.Method)
		}
		wantRole(t, id, "boto-0")
		botoKey = id.AccessKeyID
	})

	goFile, _ := pod("go-0")
	t.Run("aws-sdk-go-v2", func(t *testing.T) {
		id := runAgentPod(t, goFile, goPod, "-sts-endpoint", srv.URL)
		if id.Source != "CredentialsEndpointProvider" {
			t.Errorf("aws-sdk-go-v2 took credentials from %q", id.Source)
		}
		wantRole(t, id, "go-0")
	})

	t.Run("protocol", func(t *testing.T) {
		_, good := pod("proto-0")
		stranger := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "nobody", PodName: "x"}, time.Now(), time.Hour)
		expired := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "old"}, time.Now().Add(-2*time.Hour), time.Hour)
		tests := []struct {
			name, host, token string
			want              int
			body              string
		}{
			{"credentials", agentIP, good, 200, `"AccessKeyId":"ASIA`},
			{"with port", agentIP + ":80", good, 200, `"AccountId":"` + agentAccount + `"`},
			{"no token", agentIP, "", 400, "cannot be empty"},
			{"not a token", agentIP, "not-a-jwt", 400, "cannot be parsed"},
			{"expired token", agentIP, expired, 400, "expired"},
			{"DNS rebinding", "attacker.example", good, 403, "invalid address"},
			{"no association", agentIP, stranger, 404, "ResourceNotFoundException"},
		}
		for _, tt := range tests {
			code, body := agentCredRequest(t, tt.host, tt.token)
			if code != tt.want || !strings.Contains(body, tt.body) {
				t.Errorf("%s: %d %q, want %d containing %q", tt.name, code, body, tt.want, tt.body)
			}
		}
		_, body := agentCredRequest(t, agentIP, good)
		var creds map[string]string
		if err := json.Unmarshal([]byte(body), &creds); err != nil {
			t.Fatal(err)
		}
		exp, err := time.Parse(time.RFC3339, creds["Expiration"])
		if len(creds) != 5 || err != nil || time.Until(exp) < 5*time.Hour {
			t.Errorf("response %v: want exactly the five members, Expiration RFC 3339 about 6h ahead", creds)
		}
	})

	t.Run("IPv6", func(t *testing.T) {
		if !ipv6 {
			t.Skip("no IPv6 in this kernel")
		}
		_, token := pod("v6-0")
		req, _ := http.NewRequest("GET", "http://["+agentIPv6+"]/v1/credentials", nil)
		req.Header.Set("Authorization", token)
		resp, err := agentHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("over IPv6: %d", resp.StatusCode)
		}
	})

	// 200 concurrent requests with one new token: one call to EKS Auth,
	// first with it answering at once, then while it throttles.
	burst := func(t *testing.T, token string) {
		t.Helper()
		var wg sync.WaitGroup
		codes := make(chan int, 200)
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", "http://"+agentIP+"/v1/credentials", nil)
				req.Header.Set("Authorization", token)
				resp, err := agentHTTP.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(codes)
		n := map[int]int{}
		for c := range codes {
			n[c]++
		}
		if n[200] != 200 {
			t.Errorf("answers to 200 concurrent requests: %v, want 200 × 200", n)
		}
	}
	t.Run("burst", func(t *testing.T) {
		_, token := pod("burst-0")
		before := proxy.count()
		burst(t, token)
		if calls := len(proxy.since(before)); calls != 1 {
			t.Errorf("200 concurrent requests of one token made %d upstream calls, want 1", calls)
		}
	})
	t.Run("throttling", func(t *testing.T) {
		_, token := pod("throttled-0")
		before := proxy.count()
		proxy.throttle.Store(2)
		burst(t, token)
		calls := proxy.since(before)
		if len(calls) != 3 {
			t.Fatalf("200 concurrent requests while EKS Auth throttles twice made %d upstream calls, want 3 (one fetch, retried)", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Sub(calls[i-1]); gap < 90*time.Millisecond {
				t.Errorf("retry %d came %v after a ThrottlingException, want a backoff of at least 100ms", i, gap)
			}
		}
		m := scrapeAgent(t, agent.metricsURL)
		if n := agentMetric(t, m, `podidentity_agent_upstream_request_duration_seconds_count{outcome="throttled"}`); n != 2 {
			t.Errorf("throttled attempts in the metrics = %v, want 2", n)
		}
	})

	// Last: the server goes away. Cached credentials are still served to
	// the pod's SDK; an uncached token fails fast; the agent stays ready.
	t.Run("server stopped", func(t *testing.T) {
		srv.Stop(t)
		id := runAgentPod(t, botoFile, goPod)
		if id.AccessKeyID != botoKey || id.Source != "CredentialsEndpointProvider" {
			t.Errorf("with the server stopped: access key %q from %q, want the cached %q", id.AccessKeyID, id.Source, botoKey)
		}
		if code, body := agentCredRequest(t, agentIP, botoToken); code != 200 || !strings.Contains(body, botoKey) {
			t.Errorf("cached credentials with the server stopped: %d %s", code, body)
		}
		_, fresh := pod("late-0")
		start := time.Now()
		code, body := agentCredRequest(t, agentIP, fresh)
		if code != 500 || !strings.Contains(body, "Unable to reach EKS Auth") || time.Since(start) > 2*time.Second {
			t.Errorf("uncached token with the server stopped: %d %q after %v, want a prompt 500", code, body, time.Since(start))
		}
		for _, path := range []string{"/readyz", "/healthz"} {
			resp, err := agentHTTP.Get(agent.probeURL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s with EKS Auth down: %d, want 200 (cached credentials are still served)", path, resp.StatusCode)
			}
		}
		m := scrapeAgent(t, agent.metricsURL)
		for _, series := range []string{`pod_identity_http_response{code="200"}`, `pod_identity_http_response{code="500"}`,
			`pod_identity_cache_state{state="hit"}`, `pod_identity_cache_state{state="miss"}`} {
			if agentMetric(t, m, series) < 1 {
				t.Errorf("metrics lack %s", series)
			}
		}
	})

	// Tokens never reach the agent's logs.
	for _, tok := range []string{botoToken} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if strings.Contains(agent.Logs.String(), sig) {
			t.Errorf("the agent's logs contain a token's signature")
		}
	}
}

// TestAgentIPv6Disabled: on a node with IPv6 disabled the agent serves on
// IPv4 and says so, instead of crash-looping as the AWS agent did (#16).
func TestAgentIPv6Disabled(t *testing.T) {
	if inside, _ := inAgentNetns(t); !inside {
		return
	}
	for _, p := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6", "/proc/sys/net/ipv6/conf/lo/disable_ipv6"} {
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatalf("disabling IPv6: %v", err)
		}
	}
	// Default --bind-hosts: 169.254.170.23 and fd00:ec2::23. The agent is
	// ready once its EKS Auth endpoint answers at all.
	eksAuth := httptest.NewServer(http.NotFoundHandler())
	defer eksAuth.Close()
	agent := startAgent(t, "--cluster-name", "demo", "--endpoint", eksAuth.URL)
	if want := "http://" + agentIP + ":80/v1/credentials"; len(agent.credURLs) != 1 || agent.credURLs[0] != want {
		t.Errorf("serving on %v, want only %s", agent.credURLs, want)
	}
	if !agent.waitLog("IPv6 is disabled on this node") || !strings.Contains(agent.Logs.String(), agentIPv6) {
		t.Errorf("no warning naming IPv6 in the logs:\n%s", agent.Logs.String())
	}
	if code, body := agentCredRequest(t, agentIP, "garbage"); code != 400 {
		t.Errorf("over IPv4: %d %s, want 400 from a serving agent", code, body)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := agentHTTP.Get(agent.probeURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz: %d", resp.StatusCode)
		}
	}
}

// TestAgentPortInUse: a port already taken (a hostNetwork ingress on :80,
// the AWS agent's #10) is a clear error naming the port and host, not a
// crash. Runs on loopback; no namespace needed.
func TestAgentPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, stderr, err := runCmdEnv(t, ctx, agentEnv(), binary, "agent", "--cluster-name", "demo",
		"--endpoint", "http://127.0.0.1:1", "--bind-hosts", "127.0.0.1", "--port", port,
		"--probe-port", "0", "--metrics-address", "127.0.0.1", "--metrics-port", "0")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("agent on a taken port: %v, want exit status 1\n%s", err, stderr)
	}
	if want := "port " + port + " on 127.0.0.1 is already in use"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "--port") {
		t.Errorf("stderr %q does not say %q and name --port", stderr, want)
	}

	// The AWS agent's command line, `server` and short flags included.
	_, stderr, err = runCmdEnv(t, ctx, agentEnv(), binary, "agent", "server", "-c", "demo", "-p", port,
		"-b", "127.0.0.1", "--probe-port", "0", "--metrics-port", "0", "--metrics-address", "127.0.0.1")
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr, "port "+port+" on 127.0.0.1") {
		t.Errorf("AWS-style flags: %v\n%s", err, stderr)
	}
	_, stderr, err = runCmdEnv(t, ctx, agentEnv(), binary, "agent", "--port", "80")
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr, "--cluster-name is required") {
		t.Errorf("without --cluster-name: %v\n%s", err, stderr)
	}
}
