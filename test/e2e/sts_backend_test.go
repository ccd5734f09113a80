package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
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
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	authtypes "github.com/aws/aws-sdk-go-v2/service/eksauth/types"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// motoAccount is moto's default account: it holds the roles, and the
// server's own identity, an IAM user created in moto.
const motoAccount = "123456789012"

// motoServer is a moto_server process on a loopback port: a real
// implementation of STS and IAM that checks signatures, identity policies
// and trust policies once authentication is switched on.
type motoServer struct {
	URL  string
	cmd  *exec.Cmd
	logs *testenv.Output
	done chan struct{}
}

// startMoto runs moto_server on a free 127.0.0.1 port, recording requests
// into dir once recording is started, and stops it when t ends.
func startMoto(t *testing.T, bin, dir string) *motoServer {
	t.Helper()
	env := []string{"MOTO_RECORDER_FILEPATH=" + filepath.Join(dir, "moto-recording.jsonl"), "NO_PROXY=127.0.0.1,localhost"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "HOME" || k == "LANG" || strings.HasPrefix(k, "PYENV") {
			env = append(env, kv)
		}
	}
	var lastLogs string
	// A free port can be taken between our probe and moto's bind; try again.
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		m := &motoServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), logs: &testenv.Output{}, done: make(chan struct{})}
		m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Env = env
		m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
		if err := m.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { m.cmd.Wait(); close(m.done) }()
		if m.waitReady(30 * time.Second) {
			t.Cleanup(func() {
				m.stop()
				if t.Failed() {
					t.Logf("moto logs (tail):\n%s", tail(m.logs.String(), 4000))
				}
			})
			return m
		}
		m.stop()
		lastLogs = m.logs.String()
	}
	t.Fatalf("moto_server did not start:\n%s", lastLogs)
	return nil
}

func (m *motoServer) waitReady(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-m.done:
			return false
		default:
		}
		if resp, err := http.Get(m.URL + "/moto-api/reset-auth"); err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func (m *motoServer) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
	}
}

// post calls one of moto's own /moto-api endpoints.
func (m *motoServer) post(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(m.URL+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
}

func (m *motoServer) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(m.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return b
}

// motoAssumedRole is a session moto's STS backend created, from its model
// dump at /moto-api/data.json.
type motoAssumedRole struct {
	RoleARN     string  `json:"role_arn"`
	SessionName string  `json:"session_name"`
	ExternalID  *string `json:"external_id"`
	Policy      *string `json:"policy"`
	AccessKeyID string  `json:"access_key_id"`
	Token       string  `json:"session_token"`
	ARN         string  `json:"arn"`
}

func (m *motoServer) assumedRoles(t *testing.T) []motoAssumedRole {
	t.Helper()
	var data struct {
		STS struct {
			AssumedRole []motoAssumedRole
		} `json:"sts"`
	}
	if err := json.Unmarshal(m.get(t, "/moto-api/data.json"), &data); err != nil {
		t.Fatal(err)
	}
	return data.STS.AssumedRole
}

// motoRequest is an AssumeRole request as moto's recorder saw it on the
// wire: what the server's aws-sdk-go-v2 client really sent.
type motoRequest struct {
	Params       url.Values
	AccessKeyID  string // from the SigV4 credential scope
	SessionToken string
}

var sigv4Credential = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (m *motoServer) recordedAssumeRoles(t *testing.T) []motoRequest {
	t.Helper()
	var out []motoRequest
	for _, line := range strings.Split(string(m.get(t, "/moto-api/recorder/download-recording")), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Headers     map[string]string `json:"headers"`
			Body        string            `json:"body"`
			BodyEncoded bool              `json:"body_encoded"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("recording line %q: %v", line, err)
		}
		body := e.Body
		if e.BodyEncoded {
			b, err := base64.StdEncoding.DecodeString(e.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		params, err := url.ParseQuery(body)
		if err != nil || params.Get("Action") != "AssumeRole" {
			continue
		}
		r := motoRequest{Params: params, SessionToken: e.Headers["X-Amz-Security-Token"]}
		if mm := sigv4Credential.FindStringSubmatch(e.Headers["Authorization"]); mm != nil {
			r.AccessKeyID = mm[1]
		}
		out = append(out, r)
	}
	return out
}

func (r motoRequest) tags() map[string]string {
	tags := map[string]string{}
	for n := 1; r.Params.Has(fmt.Sprintf("Tags.member.%d.Key", n)); n++ {
		tags[r.Params.Get(fmt.Sprintf("Tags.member.%d.Key", n))] = r.Params.Get(fmt.Sprintf("Tags.member.%d.Value", n))
	}
	return tags
}

func (r motoRequest) transitiveKeys() []string {
	var keys []string
	for n := 1; r.Params.Has(fmt.Sprintf("TransitiveTagKeys.member.%d", n)); n++ {
		keys = append(keys, r.Params.Get(fmt.Sprintf("TransitiveTagKeys.member.%d", n)))
	}
	return keys
}

// errorEnvelopeProxy stands between the server and moto and rewrites the
// error envelope of moto's authentication layer, <ErrorResponse><Errors>
// <Error>, into the one STS answers with, <ErrorResponse><Error>, which
// aws-sdk-go-v2 reads (getmoto/moto#7641): the server then sees refusals as
// AWS words them. Everything else passes through unchanged, the Host header
// included, so moto still verifies the server's signatures.
func errorEnvelopeProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 400 {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = bytes.Replace(b, []byte("<Errors><Error>"), []byte("<Error>"), 1)
		b = bytes.Replace(b, []byte("</Error></Errors>"), []byte("</Error>"), 1)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// trust is an IAM trust policy allowing principal sts:AssumeRole and
// sts:TagSession, with an sts:ExternalId condition when externalIDs are
// given.
func trust(principal string, externalIDs ...string) map[string]any {
	st := map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principal},
		"Action":    []string{"sts:AssumeRole", "sts:TagSession"},
	}
	if len(externalIDs) > 0 {
		st["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalIDs}}
	}
	return map[string]any{"Version": "2012-10-17", "Statement": []any{st}}
}

// The whole sts backend against a real STS implementation: the server
// assumes roles in moto with its own IAM user, moto checks signatures,
// identity and trust policies and external ids, and the credentials it
// issues work against it. What the server sent is read back through moto's
// own API: its STS model (sessions, external ids, policies) and its request
// recorder (tags, transitive keys, which credentials signed each call).
func TestSTSBackendAgainstMoto(t *testing.T) {
	motoBin := testenv.LookPath(t, "moto_server")
	py := testenv.Python(t, "boto3")
	awsCLI := testenv.LookPath(t, "aws")
	dir := t.TempDir()
	moto := startMoto(t, motoBin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	st := startServerOnMoto(t, ctx, py, moto, dir, "log:\n  format: json\n")
	srv, keys, eksc, auth, identity := st.srv, st.keys, st.eks, st.auth, st.identity

	role := func(name string) string { return "arn:aws:iam::" + motoAccount + ":role/" + name }
	policyApp := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}`
	policyTarget := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}`
	type assoc struct {
		ns, sa, role, target, policy string
	}
	assocs := map[string]assoc{
		"app":        {ns: "default", sa: "app", role: role("workloads/app")},
		"reports":    {ns: "default", sa: "reports", role: role("workloads/app"), policy: policyApp},
		"etl":        {ns: "data", sa: "etl", role: role("hop"), target: role("target")},
		"etl-scoped": {ns: "data", sa: "etl-scoped", role: role("hop"), target: role("target"), policy: policyTarget},
		"denied":     {ns: "default", sa: "denied", role: role("untrusting")},
		"wrong-ext":  {ns: "data", sa: "wrong-ext", role: role("hop"), target: role("target-strict")},
	}
	externalID := map[string]string{}
	for name, a := range assocs {
		in := &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), Namespace: aws.String(a.ns), ServiceAccount: aws.String(a.sa), RoleArn: aws.String(a.role),
		}
		if a.target != "" {
			in.TargetRoleArn = aws.String(a.target)
		}
		if a.policy != "" {
			in.Policy, in.DisableSessionTags = aws.String(a.policy), aws.Bool(true)
		}
		out, err := eksc.CreatePodIdentityAssociation(ctx, in)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		externalID[name] = aws.ToString(out.Association.ExternalId)
	}
	if want := "us-west-2/" + motoAccount + "/demo/data/etl"; externalID["etl"] != want {
		t.Errorf("externalId = %q, want %q", externalID["etl"], want)
	}

	// The roles, as an operator would set them up (docs/aws-setup.md),
	// within what moto checks: it matches a trust policy's principal
	// exactly, so the target roles trust any principal presenting the
	// association's external id instead of naming the hop role.
	anyPrincipal := "*"
	roles := []map[string]any{
		{"name": "app", "path": "/workloads/", "trust": trust(identity.ARN)},
		{"name": "hop", "trust": trust(identity.ARN), "policy": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Action": []string{"sts:AssumeRole", "sts:TagSession"}, "Resource": role("target*")}}}},
		{"name": "target", "trust": trust(anyPrincipal, externalID["etl"], externalID["etl-scoped"])},
		{"name": "target-strict", "trust": trust(anyPrincipal, "not-this-association")},
		{"name": "untrusting", "trust": trust("arn:aws:iam::" + motoAccount + ":user/someone-else")},
	}
	spec, _ := json.Marshal(roles)
	if _, stderr, err := runCmdEnv(t, ctx, append(awsEnv(), "STS_ROLES="+string(spec)), py, "testdata/sts_moto_iam.py", moto.URL, "roles"); err != nil {
		t.Fatalf("creating roles: %v\n%s", err, stderr)
	}
	// From here on moto authenticates and authorizes every request, and
	// records what it receives.
	moto.post(t, "/moto-api/reset-auth", "0")
	moto.post(t, "/moto-api/recorder/start-recording", "")

	now := time.Now()
	pod := func(a, name string) tokenmint.Pod {
		return tokenmint.Pod{Namespace: assocs[a].ns, ServiceAccount: assocs[a].sa, PodName: name, PodUID: "uid-" + name}
	}
	assume := func(p tokenmint.Pod) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
		return auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
			ClusterName: aws.String("demo"), Token: aws.String(keys.mint(t, p, now, time.Hour))})
	}
	mustAssume := func(p tokenmint.Pod) *eksauth.AssumeRoleForPodIdentityOutput {
		t.Helper()
		out, err := assume(p)
		if err != nil {
			t.Fatalf("AssumeRoleForPodIdentity for %s/%s pod %s: %v", p.Namespace, p.ServiceAccount, p.PodName, err)
		}
		return out
	}
	var secrets []string
	keep := func(out *eksauth.AssumeRoleForPodIdentityOutput) *eksauth.AssumeRoleForPodIdentityOutput {
		secrets = append(secrets, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
		return out
	}
	sessionOf := regexp.MustCompile(`^arn:aws:sts::` + motoAccount + `:assumed-role/([^/]+)/(eks-demo-[\w.-]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	checkLifetime := func(what string, exp time.Time, want time.Duration) {
		t.Helper()
		if life := time.Until(exp); life <= want-2*time.Minute || life > want {
			t.Errorf("%s: credentials live %s, want about %s", what, life, want)
		}
	}

	// A pod's credentials for the association's role, reused for a second
	// request of the same pod; another pod gets its own.
	web0 := keep(mustAssume(pod("app", "web-0")))
	m := sessionOf.FindStringSubmatch(aws.ToString(web0.AssumedRoleUser.Arn))
	if m == nil || m[1] != "app" || len(m[2]) > 64 {
		t.Fatalf("assumedRoleUser.arn = %s, want the app role's session eks-demo-web-0-<uuid>", aws.ToString(web0.AssumedRoleUser.Arn))
	}
	web0Session := m[2]
	if !strings.HasPrefix(aws.ToString(web0.Credentials.AccessKeyId), "ASIA") {
		t.Errorf("access key %s is not temporary", aws.ToString(web0.Credentials.AccessKeyId))
	}
	checkLifetime("app", aws.ToTime(web0.Credentials.Expiration), 6*time.Hour)
	if again := mustAssume(pod("app", "web-0")); aws.ToString(again.Credentials.AccessKeyId) != aws.ToString(web0.Credentials.AccessKeyId) {
		t.Errorf("second request of pod web-0 got new credentials; want the cached ones")
	}
	web1 := keep(mustAssume(pod("app", "web-1")))
	if aws.ToString(web1.Credentials.AccessKeyId) == aws.ToString(web0.Credentials.AccessKeyId) {
		t.Errorf("pods web-0 and web-1 share credentials")
	}

	// A burst for one new pod: one STS call, everyone the same credentials.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		burst = map[string]int{}
		errs  []error
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := assume(pod("app", "web-2"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			burst[aws.ToString(out.Credentials.AccessKeyId)]++
			secrets = append(secrets, aws.ToString(out.Credentials.SecretAccessKey))
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(burst) != 1 {
		t.Errorf("burst of 20: %d errors (%v), %d distinct keys; want none and 1", len(errs), errors.Join(errs...), len(burst))
	}

	reports := keep(mustAssume(pod("reports", "report-0")))
	etl := keep(mustAssume(pod("etl", "etl-0")))
	m = sessionOf.FindStringSubmatch(aws.ToString(etl.AssumedRoleUser.Arn))
	if m == nil || m[1] != "target" {
		t.Fatalf("chained assumedRoleUser.arn = %s, want a session of the target role", aws.ToString(etl.AssumedRoleUser.Arn))
	}
	etlSession := m[2]
	checkLifetime("chained", aws.ToTime(etl.Credentials.Expiration), time.Hour)
	scoped := keep(mustAssume(pod("etl-scoped", "etl-scoped-0")))

	// Refusals carry STS's own words, as EKS Auth's AccessDeniedException.
	for name, want := range map[string][]string{
		"denied": {"is not authorized to perform: sts:AssumeRole", "role " + role("untrusting"),
			"trust policy of " + role("untrusting") + " must allow this server's AWS principal"},
		"wrong-ext": {"target role " + role("target-strict") + " with the credentials of role " + role("hop"),
			"assumed-role/hop/", "is not authorized to perform: sts:AssumeRole", `sts:ExternalId "` + externalID["wrong-ext"] + `"`},
	} {
		_, err := assume(pod(name, name+"-0"))
		var denied *authtypes.AccessDeniedException
		if !errors.As(err, &denied) {
			t.Errorf("%s: %v, want AccessDeniedException", name, err)
			continue
		}
		t.Logf("%s: AccessDeniedException: %s", name, denied.ErrorMessage())
		for _, w := range want {
			if !strings.Contains(denied.ErrorMessage(), w) {
				t.Errorf("%s: message %q does not contain %q", name, denied.ErrorMessage(), w)
			}
		}
	}

	// What moto's STS holds: one session per pod (the repeat and the burst
	// were served from the cache), chains of two, external ids and
	// policies where they belong.
	sessions := map[string][]motoAssumedRole{}
	for _, r := range moto.assumedRoles(t) {
		sessions[r.SessionName] = append(sessions[r.SessionName], r)
	}
	count := func(pod string) (n int) {
		for name, rs := range sessions {
			if strings.HasPrefix(name, "eks-demo-"+pod+"-") {
				n += len(rs)
			}
		}
		return n
	}
	for pod, want := range map[string]int{"web-0": 1, "web-1": 1, "web-2": 1, "report-0": 1, "etl-0": 2, "etl-scoped-0": 2, "wrong-ext-0": 1, "denied-0": 0} {
		if got := count(pod); got != want {
			t.Errorf("moto holds %d sessions for pod %s, want %d", got, pod, want)
		}
	}
	str := func(p *string) string {
		if p == nil {
			return "<none>"
		}
		return *p
	}
	byRole := func(session string) map[string]motoAssumedRole {
		out := map[string]motoAssumedRole{}
		for _, r := range sessions[session] {
			out[r.RoleARN] = r
		}
		return out
	}
	if r := byRole(web0Session)[role("workloads/app")]; str(r.ExternalID) != "<none>" || str(r.Policy) != "<none>" || r.ARN != aws.ToString(web0.AssumedRoleUser.Arn) {
		t.Errorf("web-0's session in moto: %+v", r)
	}
	chain := byRole(etlSession)
	hop, target := chain[role("hop")], chain[role("target")]
	if hop.AccessKeyID == "" || str(hop.ExternalID) != "<none>" || str(hop.Policy) != "<none>" {
		t.Errorf("etl's first session in moto: %+v; want the hop role without external id or policy", hop)
	}
	if str(target.ExternalID) != externalID["etl"] || str(target.Policy) != "<none>" || target.AccessKeyID != aws.ToString(etl.Credentials.AccessKeyId) {
		t.Errorf("etl's target session in moto: external id %s, policy %s, key %s; want %s, none, the key the pod got",
			str(target.ExternalID), str(target.Policy), target.AccessKeyID, externalID["etl"])
	}
	m = sessionOf.FindStringSubmatch(aws.ToString(scoped.AssumedRoleUser.Arn))
	if m == nil {
		t.Fatalf("scoped arn %s", aws.ToString(scoped.AssumedRoleUser.Arn))
	}
	sc := byRole(m[2])
	if str(sc[role("hop")].Policy) != "<none>" || str(sc[role("target")].Policy) != policyTarget || str(sc[role("target")].ExternalID) != externalID["etl-scoped"] {
		t.Errorf("etl-scoped in moto: hop policy %s, target policy %s, external id %s; the policy belongs to the target role",
			str(sc[role("hop")].Policy), str(sc[role("target")].Policy), str(sc[role("target")].ExternalID))
	}
	m = sessionOf.FindStringSubmatch(aws.ToString(reports.AssumedRoleUser.Arn))
	if m == nil || str(byRole(m[2])[role("workloads/app")].Policy) != policyApp {
		t.Errorf("reports in moto: %+v; want the association's policy on its role", sessions)
	}

	// What the server sent, as moto recorded it.
	recorded := moto.recordedAssumeRoles(t)
	if len(recorded) != 11 { // 9 sessions, the refused role, the refused target
		t.Errorf("moto recorded %d AssumeRole requests, want 11", len(recorded))
	}
	bySession := map[string][]motoRequest{}
	for _, r := range recorded {
		s := r.Params.Get("RoleSessionName")
		bySession[s] = append(bySession[s], r)
	}
	wantTags := map[string]string{
		"eks-cluster-arn": "arn:aws:eks:us-west-2:" + motoAccount + ":cluster/demo", "eks-cluster-name": "demo",
		"kubernetes-namespace": "default", "kubernetes-service-account": "app",
		"kubernetes-pod-name": "web-0", "kubernetes-pod-uid": "uid-web-0",
	}
	wantKeys := []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-pod-name", "kubernetes-pod-uid", "kubernetes-service-account"}
	if rs := bySession[web0Session]; len(rs) != 1 {
		t.Errorf("%d requests for web-0's session, want 1", len(rs))
	} else {
		r := rs[0]
		if r.AccessKeyID != identity.AccessKeyID || r.SessionToken != "" {
			t.Errorf("web-0's AssumeRole signed by %s, want the server's own key %s", r.AccessKeyID, identity.AccessKeyID)
		}
		if fmt.Sprint(r.tags()) != fmt.Sprint(wantTags) || strings.Join(r.transitiveKeys(), ",") != strings.Join(wantKeys, ",") {
			t.Errorf("web-0's session tags %v, transitive %v; want %v, all transitive", r.tags(), r.transitiveKeys(), wantTags)
		}
		if r.Params.Get("DurationSeconds") != "21600" || r.Params.Get("RoleArn") != role("workloads/app") {
			t.Errorf("web-0's AssumeRole: %v", r.Params)
		}
	}
	if rs := bySession[etlSession]; len(rs) != 2 {
		t.Errorf("%d requests for etl's session, want 2", len(rs))
	} else {
		first, second := rs[0], rs[1]
		if first.AccessKeyID != identity.AccessKeyID || len(first.tags()) != 6 || first.Params.Get("DurationSeconds") != "3600" ||
			first.Params.Has("ExternalId") || first.Params.Has("Policy") {
			t.Errorf("etl's first AssumeRole: key %s, %v", first.AccessKeyID, first.Params)
		}
		if second.AccessKeyID != hop.AccessKeyID || second.SessionToken != hop.Token {
			t.Errorf("etl's second AssumeRole signed by %s, want the hop session's key %s and its token", second.AccessKeyID, hop.AccessKeyID)
		}
		if second.Params.Get("ExternalId") != externalID["etl"] || second.Params.Get("RoleArn") != role("target") ||
			len(second.tags()) != 0 || second.Params.Get("DurationSeconds") != "3600" {
			t.Errorf("etl's second AssumeRole: %v; want the target role, the external id, no repeated tags, 3600s", second.Params)
		}
	}

	// The credentials work against moto, which now checks every signature
	// and session token: get-caller-identity shows the assumed role.
	for name, out := range map[string]*eksauth.AssumeRoleForPodIdentityOutput{"app": web0, "chained": etl} {
		env := append(awsEnv(),
			"AWS_ACCESS_KEY_ID="+aws.ToString(out.Credentials.AccessKeyId),
			"AWS_SECRET_ACCESS_KEY="+aws.ToString(out.Credentials.SecretAccessKey),
			"AWS_SESSION_TOKEN="+aws.ToString(out.Credentials.SessionToken))
		who, stderr, err := runCmdEnv(t, ctx, env, awsCLI, "sts", "get-caller-identity", "--endpoint-url", moto.URL, "--output", "json")
		if err != nil {
			t.Errorf("%s: get-caller-identity: %v\n%s", name, err, stderr)
			continue
		}
		var id struct{ Arn, Account string }
		json.Unmarshal([]byte(who), &id)
		if id.Arn != aws.ToString(out.AssumedRoleUser.Arn) || id.Account != motoAccount {
			t.Errorf("%s: get-caller-identity = %s, want %s", name, who, aws.ToString(out.AssumedRoleUser.Arn))
		}
	}

	// No secret reaches the server's logs; the server says who it is to AWS.
	logs := srv.Logs.String()
	for _, s := range append(secrets, identity.SecretAccessKey) {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("server logs contain a secret (%.6s...)", s)
		}
	}
	if !strings.Contains(logs, `"identity":"`+identity.ARN+`"`) {
		t.Errorf("server logs do not name its AWS identity %s", identity.ARN)
	}
}

// startServerOnMoto starts a server on the sts backend whose own AWS identity
// is an IAM user created in moto, found the way the SDK's default chain
// finds it (the environment), with cluster demo and extra configuration
// appended.
func startServerOnMoto(t *testing.T, ctx context.Context, py string, moto *motoServer, dir, extra string) *stsServer {
	t.Helper()
	out, stderr, err := runCmd(t, ctx, py, "testdata/sts_moto_iam.py", moto.URL, "identity")
	if err != nil {
		t.Fatalf("creating the server's IAM user: %v\n%s", err, stderr)
	}
	var identity motoIdentity
	if err := json.Unmarshal([]byte(out), &identity); err != nil {
		t.Fatalf("identity %q: %v", out, err)
	}
	// Nothing else of the developer's AWS setup may leak in.
	serverEnv := []string{
		"AWS_ACCESS_KEY_ID=" + identity.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + identity.SecretAccessKey,
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
		"NO_PROXY=127.0.0.1,localhost",
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" || k == "HOME" || k == "LANG" || k == "TMPDIR" {
			serverEnv = append(serverEnv, kv)
		}
	}
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
region: us-west-2
accountId: "%s"
storage: memory
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
credentials:
  backend: sts
  endpoint: %s
  region: us-east-1
`+extra+adminAuth, motoAccount, keys.jwks, errorEnvelopeProxy(t, moto.URL)))
	srv := startServerEnv(t, serverEnv, "--config", cfg)
	creds := credentials.NewStaticCredentialsProvider(e2eKey, e2eSecret, "")
	eksc := eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
	auth := eksauth.New(eksauth.Options{Region: "us-west-2", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
	return &stsServer{srv: srv, keys: keys, eks: eksc, auth: auth, identity: identity}
}

// motoIdentity is the server's own IAM user in moto.
type motoIdentity struct{ ARN, AccessKeyID, SecretAccessKey string }

// stsServer is a server on the sts backend in front of moto, with the
// cluster's keys and EKS and EKS Auth clients signed by the test's
// administrator.
type stsServer struct {
	srv      *server
	keys     *clusterKeys
	eks      *eks.Client
	auth     *eksauth.Client
	identity motoIdentity
}
