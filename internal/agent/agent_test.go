package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runAgent starts an agent on loopback with any free ports and returns it
// with a function that stops it and returns Run's error.
func runAgent(t testing.TB, cfg Config) (*Agent, func() error) {
	t.Helper()
	if cfg.BindHosts == nil {
		cfg.BindHosts = []string{"127.0.0.1"}
	}
	cfg.Port, cfg.ProbeAddr, cfg.MetricsAddr = -1, "127.0.0.1:0", "127.0.0.1:0"
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("Run did not return within 15s of cancellation")
		}
	}
	t.Cleanup(func() { stop(); a.Close() })
	return a, stop
}

func httpGet(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAgentServesOverHTTP(t *testing.T) {
	a, stop := runAgent(t, Config{Upstream: hourCreds()})
	urls := a.CredentialURLs()
	if len(urls) != 1 || !strings.HasPrefix(urls[0], "http://127.0.0.1:") || !strings.HasSuffix(urls[0], CredentialsPath) {
		t.Fatalf("credential URLs %v", urls)
	}
	if code, body := httpGet(t, urls[0], podJWT(t, "web-0", time.Now().Add(time.Hour))); code != 200 || !strings.Contains(body, `"AccessKeyId":"ASIAEXAMPLE"`) {
		t.Errorf("credentials: %d %s", code, body)
	}
	for _, u := range []string{a.ProbeURL() + "/healthz", a.ProbeURL() + "/readyz", strings.TrimSuffix(a.MetricsURL(), "/metrics") + "/readyz"} {
		if code, body := httpGet(t, u, ""); code != 200 || body != "ok\n" {
			t.Errorf("%s: %d %q", u, code, body)
		}
	}
	code, body := httpGet(t, a.MetricsURL(), "")
	for _, want := range []string{`pod_identity_http_response{code="200"} 1`, `pod_identity_cache_state{state="miss"} 1`,
		"podidentity_agent_cache_entries 1", `podidentity_agent_upstream_request_duration_seconds_count{outcome="success"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAgentReadyOnlyOnceNodeCredentialsResolve(t *testing.T) {
	var ok atomic.Bool
	a, _ := runAgent(t, Config{Upstream: hourCreds(), CheckCredentials: func(context.Context) error {
		if ok.Load() {
			return nil
		}
		return errors.New("no EC2 instance role")
	}})
	if code, _ := httpGet(t, a.ProbeURL()+"/readyz", ""); code != 503 {
		t.Errorf("readyz before the node's credentials resolve: %d, want 503", code)
	}
	if code, _ := httpGet(t, a.ProbeURL()+"/healthz", ""); code != 200 {
		t.Errorf("healthz: %d, want 200 (alive, only not ready)", code)
	}
	ok.Store(true)
	waitReady(t, a, "after the credentials resolved")
}

// waitReady polls readyz until it answers 200, for up to 5 s.
func waitReady(t *testing.T, a *Agent, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := httpGet(t, a.ProbeURL()+"/readyz", "")
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s", code, when)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An agent that cannot reach EKS Auth (the server) is not Ready, so a
// broken install does not pass `helm install --wait`; once it has, an
// outage does not make it unready: it serves what it has cached.
func TestAgentReadyOnlyOnceUpstreamAnswered(t *testing.T) {
	var reachable atomic.Bool
	a, _ := runAgent(t, Config{Upstream: hourCreds(), CheckUpstream: func(context.Context) error {
		if reachable.Load() {
			return nil
		}
		return errors.New("dial tcp: lookup podidentity-server: no such host")
	}})
	if code, body := httpGet(t, a.ProbeURL()+"/readyz", ""); code != 503 || !strings.Contains(body, "cannot be reached") {
		t.Errorf("readyz before EKS Auth answered: %d %q, want 503 saying why", code, body)
	}
	reachable.Store(true)
	waitReady(t, a, "after EKS Auth answered")
	reachable.Store(false)
	time.Sleep(100 * time.Millisecond)
	if code, _ := httpGet(t, a.ProbeURL()+"/readyz", ""); code != 200 {
		t.Errorf("readyz after an outage began: %d, want 200", code)
	}
}

func TestAgentPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	_, err = New(context.Background(), Config{Upstream: hourCreds(), BindHosts: []string{"127.0.0.1"}, Port: port,
		ProbeAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	want := "port " + strconv.Itoa(port) + " on 127.0.0.1 is already in use"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--port") {
		t.Errorf("New = %v, want an error saying %q and naming --port", err, want)
	}
	_, err = New(context.Background(), Config{Upstream: hourCreds(), BindHosts: []string{"127.0.0.1"}, Port: -1,
		ProbeAddr: "127.0.0.1:" + strconv.Itoa(port), MetricsAddr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "probe") || !strings.Contains(err.Error(), "--probe-port") {
		t.Errorf("New with the probe port taken = %v", err)
	}
}

// Outside a namespace that assigns them, fd00:ec2::23 and 169.254.170.23
// are not this machine's: the IPv6 one is skipped with a warning (as on a
// node with IPv6 disabled), the IPv4 one is an error saying what to do.
func TestAgentBindHostsUnavailable(t *testing.T) {
	var buf bytes.Buffer
	logs := &syncWriter{w: &buf}
	log := slog.New(slog.NewTextHandler(logs, nil))
	a, _ := runAgent(t, Config{Upstream: hourCreds(), BindHosts: []string{"127.0.0.1", "fd00:ec2::23"}, Logger: log})
	if n := len(a.CredentialURLs()); n != 1 {
		t.Skipf("fd00:ec2::23 is an address of this machine (%d listeners)", n)
	}
	if l := logs.String(); !strings.Contains(l, "IPv6 is disabled on this node or the address is not assigned") {
		t.Errorf("no warning about IPv6 in the logs:\n%s", l)
	}
	if code, _ := httpGet(t, a.ProbeURL()+"/readyz", ""); code != 200 {
		t.Errorf("readyz with IPv6 skipped: %d, want 200", code)
	}

	_, err := New(context.Background(), Config{Upstream: hourCreds(), BindHosts: []string{"fd00:ec2::23"}, Port: -1,
		ProbeAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "no address to serve credentials on") {
		t.Errorf("New with only an unavailable IPv6 host = %v, want an error", err)
	}
	_, err = New(context.Background(), Config{Upstream: hourCreds(), BindHosts: []string{"169.254.170.23"}, Port: -1,
		ProbeAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err == nil {
		t.Skip("169.254.170.23 is an address of this machine")
	}
	if !strings.Contains(err.Error(), "ip addr add 169.254.170.23/32 dev lo") {
		t.Errorf("New with an unassigned IPv4 host = %v, want advice", err)
	}
}

// A caller that edits the default hosts (a flag appending to them, say)
// must not change them for every other.
func TestDefaultBindHostsAreFresh(t *testing.T) {
	hosts := DefaultBindHosts()
	hosts[0] = "10.0.0.1"
	_ = append(hosts[:1], "10.0.0.2")
	if got := DefaultBindHosts(); got[0] != "169.254.170.23" || got[1] != "fd00:ec2::23" {
		t.Errorf("DefaultBindHosts() = %v after a caller edited its copy", got)
	}
}
