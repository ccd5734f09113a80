package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The AWS agent's charts pass --rotate-credentials as a key/value pair;
// every spelling its flag parser takes is taken here.
func TestAgentRotateCredentialsForms(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--rotate-credentials"}, true},
		{[]string{"--rotate-credentials", "true"}, true},
		{[]string{"--rotate-credentials=true"}, true},
		{[]string{"-rotate-credentials", "true"}, true},
		{[]string{"--rotate-credentials", "false"}, false},
		{[]string{"--rotate-credentials=false"}, false},
		{[]string{"--rotate-credentials", "--port", "8080"}, true},
		{[]string{"--port", "8080", "--rotate-credentials", "true", "-v", "trace"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := mustParseAgentFlags(t, tt.args...)
			if f.rotateCredentials != tt.want {
				t.Errorf("rotateCredentials = %v, want %v", f.rotateCredentials, tt.want)
			}
		})
	}
	if f, _ := parseAgentFlags([]string{"--cluster-name", "demo", "--rotate-credentials", "maybe"}, io.Discard); f != nil {
		t.Error("a stray argument after --rotate-credentials was accepted")
	}
}

func TestJoinBoolValues(t *testing.T) {
	got := joinBoolValues([]string{"--rotate-credentials", "true", "--zone", "true", "--", "--rotate-credentials", "false"}, "rotate-credentials")
	want := []string{"--rotate-credentials=true", "--zone", "true", "--", "--rotate-credentials", "false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The real `podidentity agent` with --rotate-credentials: the node's
// credentials file is rotated while it serves, and the next EKS Auth call is
// signed with the new key. Without the flag the SDK's chain reads the file
// once, as the AWS agent without it does.
func TestAgentRotatesNodeCredentials(t *testing.T) {
	for _, tt := range []struct {
		flag    []string
		rotates bool
	}{
		{[]string{"--rotate-credentials", "true"}, true},
		{[]string{"--rotate-credentials=false"}, false},
	} {
		t.Run(strings.Join(tt.flag, " "), func(t *testing.T) {
			var mu sync.Mutex
			signedWith := map[string]string{} // token -> access key
			keyRE := regexp.MustCompile(`Credential=([A-Z0-9]+)/`)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var in struct{ Token string }
				json.NewDecoder(r.Body).Decode(&in)
				m := keyRE.FindStringSubmatch(r.Header.Get("Authorization"))
				mu.Lock()
				if m != nil {
					signedWith[in.Token] = m[1]
				}
				mu.Unlock()
				writeAssumeAnswer(w)
			}))
			defer srv.Close()

			dir := t.TempDir()
			credFile := filepath.Join(dir, "credentials")
			writeNodeCreds(t, credFile, "ASIANODEOLD000000001")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			t.Setenv("AWS_REGION", "us-west-2")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
				t.Setenv(v, "")
				os.Unsetenv(v)
			}

			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			go func() {
				args := append([]string{"server", "--cluster-name", "demo", "--endpoint", srv.URL, "--bind-hosts", "127.0.0.1",
					"--port", "0", "--probe-port", "0", "--metrics-address", "127.0.0.1", "--metrics-port", "0", "-v", "error"}, tt.flag...)
				done <- Run(ctx, append([]string{"agent"}, args...), pw, io.Discard)
				pw.Close()
			}()
			defer func() {
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("agent exited %d", code)
				}
			}()
			url := ""
			sc := bufio.NewScanner(pr)
			for url == "" && sc.Scan() {
				if m := regexp.MustCompile(`serving credentials on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
					url = m[1]
				}
			}
			go io.Copy(io.Discard, pr)
			if url == "" {
				t.Fatal("the agent never said where it serves")
			}
			ask := func(pod string) string {
				tok := unsignedPodJWT(pod)
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s", pod, resp.StatusCode, body)
				}
				mu.Lock()
				defer mu.Unlock()
				return signedWith[tok]
			}
			if got := ask("before"); got != "ASIANODEOLD000000001" {
				t.Fatalf("signed with %q before the rotation", got)
			}
			writeNodeCreds(t, credFile, "ASIANODENEW000000002")
			want := "ASIANODEOLD000000001"
			if tt.rotates {
				want = "ASIANODENEW000000002"
			}
			if got := ask("after"); got != want {
				t.Errorf("after the rotation the call was signed with %q, want %q", got, want)
			}
		})
	}
}

func writeNodeCreds(t *testing.T, path, key string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("[default]\naws_access_key_id = "+key+"\naws_secret_access_key = s\naws_session_token = st\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// unsignedPodJWT is a token of a projected token's shape; the agent only
// parses it (EKS Auth, here a stub, would check it).
func unsignedPodJWT(pod string) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]any{"alg": "RS256", "kid": "k"}) + "." + enc(map[string]any{
		"iss": "https://issuer.example", "aud": []string{"pods.eks.amazonaws.com"}, "sub": "system:serviceaccount:default:app",
		"exp": time.Now().Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": "default", "pod": map[string]any{"name": pod, "uid": "uid-" + pod},
			"serviceaccount": map[string]any{"name": "app", "uid": "sa"}},
	}) + "." + base64.RawURLEncoding.EncodeToString([]byte("sig"))
}

// --check-pods is on by default in a cluster; outside one the default is
// off, and asking for it is an error rather than a check silently not made.
func TestAgentCheckPodsFlag(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	tests := []struct {
		args    []string
		want    bool
		wantErr bool
	}{
		{nil, true, false},
		{[]string{"--check-pods", "false"}, false, false},
		{[]string{"--check-pods=false"}, false, false},
		{[]string{"--check-pods"}, true, true},
		{[]string{"--check-pods", "true", "--port", "8080"}, true, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := mustParseAgentFlags(t, tt.args...)
			if f.checkPods != tt.want {
				t.Errorf("checkPods = %v, want %v", f.checkPods, tt.want)
			}
			pods, from, err := agentPods(f)
			if pods != nil || (err != nil) != tt.wantErr {
				t.Errorf("outside a cluster: agentPods = %v, %q, %v; want no checker and an error: %v", pods, from, err, tt.wantErr)
			}
		})
	}
}

// The sidecar (--pod-token-auth) has no node credentials, region or IMDS:
// it serves a pod's credentials from unsigned EKS Auth calls and is ready
// without waiting for node credentials.
func TestAgentPodTokenAuth(t *testing.T) {
	var mu sync.Mutex
	var authz []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authz = append(authz, r.Header.Get("Authorization"))
		mu.Unlock()
		writeAssumeAnswer(w)
	}))
	defer srv.Close()
	dir := t.TempDir()
	// Nothing the SDK could find node credentials or a region in.
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		args := []string{"--pod-token-auth", "--cluster-name", "demo", "--endpoint", srv.URL, "--bind-hosts", "127.0.0.1",
			"--port", "0", "--probe-address", "127.0.0.1", "--probe-port", "0", "--metrics-address", "127.0.0.1", "--metrics-port", "0", "-v", "error"}
		done <- Run(ctx, append([]string{"agent"}, args...), pw, &stderr)
		pw.Close()
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("agent exited %d: %s", code, stderr.String())
		}
	}()
	var url, probe string
	sc := bufio.NewScanner(pr)
	for (url == "" || probe == "") && sc.Scan() {
		if m := regexp.MustCompile(`serving credentials on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`probes on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			probe = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || probe == "" {
		t.Fatalf("the agent never said where it serves: %s", stderr.String())
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", unsignedPodJWT("web-1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ASIAPOD") {
		t.Fatalf("credentials: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	if len(authz) == 0 || authz[0] != "" {
		t.Errorf("EKS Auth calls carried Authorization %q, want none", authz)
	}
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(probe + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready without node credentials: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentPodTokenAuthFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--pod-token-auth", "--cluster-name", "demo"},
		{"--pod-token-auth", "--cluster-name", "demo", "--endpoint", "http://x", "--rotate-credentials"},
		{"--pod-token-auth", "--cluster-name", "demo", "--endpoint", "http://x", "--check-pods"},
	} {
		var stderr strings.Builder
		if f, code := parseAgentFlags(args, &stderr); f != nil || code != 2 {
			t.Errorf("%q accepted", args)
		}
	}
	f, _ := parseAgentFlags([]string{"--pod-token-auth", "true", "--cluster-name", "demo", "--endpoint", "http://x"}, io.Discard)
	if f == nil || !f.podTokenAuth || f.checkPods || f.jwksURL != "none" {
		t.Errorf("sidecar defaults: %+v", f)
	}
}

// writeAssumeAnswer answers AssumeRoleForPodIdentity as EKS Auth does, with
// six-hour credentials.
func writeAssumeAnswer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"subject":{"namespace":"default","serviceAccount":"app"},"audience":"pods.eks.amazonaws.com",
"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-abc","associationId":"a-abc"},
"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/app/s","assumeRoleId":"AROA:s"},
"credentials":{"sessionToken":"st","secretAccessKey":"sk","accessKeyId":"ASIAPOD","expiration":%d}}`, time.Now().Add(6*time.Hour).Unix())
}

// mustParseAgentFlags parses args after --cluster-name demo, which must
// parse.
func mustParseAgentFlags(t *testing.T, args ...string) *agentFlags {
	t.Helper()
	var stderr strings.Builder
	f, code := parseAgentFlags(append([]string{"--cluster-name", "demo"}, args...), &stderr)
	if f == nil {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	return f
}
