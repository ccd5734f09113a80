package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

type handlerEnv struct {
	h   *handler
	up  *fakeUpstream
	reg *prometheus.Registry
	log *syncWriter
}

func newHandlerEnv(t testing.TB, up *fakeUpstream, tweak func(*handler)) *handlerEnv {
	t.Helper()
	m, reg := testMetrics(t)
	logs := &syncWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	policy := fastPolicy()
	c := newCache(cacheConfig{sweepEvery: time.Hour}, newFetcher(up, policy, time.Now, m).fetch, m, log)
	t.Cleanup(c.close)
	h := &handler{
		hosts:        map[string]bool{"169.254.170.23": true, "fd00:ec2::23": true},
		hostList:     "[169.254.170.23 fd00:ec2::23]",
		cache:        c,
		inbound:      newLimiter(1000, 500, time.Now),
		queueWait:    time.Second,
		answerWithin: 2 * time.Second,
		metrics:      m,
		log:          log,
		now:          time.Now,
	}
	if tweak != nil {
		tweak(h)
	}
	return &handlerEnv{h: h, up: up, reg: reg, log: logs}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (e *handlerEnv) do(method, host, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://"+host+CredentialsPath, nil)
	r.Host = host
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func hourCreds() *fakeUpstream {
	return newUpstream(func(_ context.Context, token string, n int) (Credentials, error) {
		return Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "sk/+=", SessionToken: "st==", AccountID: "111122223333",
			Expiration: time.Date(2031, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))}, nil
	})
}

// The response is exactly what the SDKs' container providers parse.
func TestHandlerServesCredentials(t *testing.T) {
	e := newHandlerEnv(t, hourCreds(), nil)
	w := e.do("GET", "169.254.170.23", podJWT(t, "web-0", time.Now().Add(time.Hour)))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "sk/+=", "Token": "st==", "AccountId": "111122223333",
		"Expiration": "2031-01-02T02:04:05Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if n := metricValue(t, e.reg, "pod_identity_http_response", "code", "200"); n != 1 {
		t.Errorf("pod_identity_http_response{code=200} = %v", n)
	}
	if head := e.do("HEAD", "169.254.170.23", podJWT(t, "web-0", time.Now().Add(time.Hour))); head.Code != 200 || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", head.Code, head.Body.Len())
	}
}

// Only requests addressed to one of the agent's own hosts are answered: a
// DNS-rebinding page in the pod cannot use it.
func TestHandlerHostCheck(t *testing.T) {
	e := newHandlerEnv(t, hourCreds(), nil)
	tok := podJWT(t, "web-0", time.Now().Add(time.Hour))
	for host, want := range map[string]int{
		"169.254.170.23":          200,
		"169.254.170.23:80":       200,
		"[fd00:ec2::23]":          200,
		"[fd00:ec2::23]:80":       200,
		"[FD00:EC2:0:0::23]:80":   200,
		"evil.example":            403,
		"169.254.170.23.nip.io":   403,
		"rebind.example:80":       403,
		"127.0.0.1":               403,
		"localhost":               403,
		"":                        403,
		"[::ffff:169.254.170.23]": 200,
	} {
		if w := e.do("GET", host, tok); w.Code != want {
			t.Errorf("Host %q: %d %s, want %d", host, w.Code, w.Body, want)
		}
	}
}

func TestHandlerRefusals(t *testing.T) {
	e := newHandlerEnv(t, hourCreds(), nil)
	good := podJWT(t, "web-0", time.Now().Add(time.Hour))
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		want   int
		body   string
	}{
		{"other path", "GET", "/", good, 404, "not found"},
		{"v2 path", "GET", "/v2/credentials", good, 404, "not found"},
		{"POST", "POST", CredentialsPath, good, 405, "Method not allowed"},
		{"no Authorization", "GET", CredentialsPath, "", 400, "cannot be empty"},
		{"not a JWT", "GET", CredentialsPath, "hello", 400, "cannot be parsed"},
		{"expired", "GET", CredentialsPath, podJWT(t, "web-0", time.Now().Add(-time.Second)), 400, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://169.254.170.23"+tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", tt.token)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("%d %q, want %d containing %q", w.Code, w.Body, tt.want, tt.body)
			}
		})
	}
	if e.up.total.Load() != 0 {
		t.Errorf("refused requests reached upstream %d times", e.up.total.Load())
	}
}

// EKS Auth's failures reach the pod with EKS Auth's status, as from the
// AWS agent; with no answer at all, 500.
func TestHandlerPassesUpstreamStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
		body string
	}{
		{&UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "bad", RequestID: "r1"}, 400, "[r1]: (InvalidTokenException): bad, fault: client"},
		{&UpstreamError{Status: 400, Code: "ExpiredTokenException", Message: "old"}, 400, "ExpiredTokenException"},
		{&UpstreamError{Status: 403, Code: "AccessDeniedException", Message: "no"}, 403, "AccessDeniedException"},
		{&UpstreamError{Status: 404, Code: "ResourceNotFoundException", Message: "none"}, 404, "ResourceNotFoundException"},
		{&UpstreamError{Status: 429, Code: "ThrottlingException", Message: "slow down"}, 429, "ThrottlingException"},
		{&UpstreamError{Status: 500, Code: "InternalServerException", Message: "oops"}, 500, "fault: server"},
		{&UpstreamError{Status: 503, Code: "ServiceUnavailableException", Message: "later"}, 503, "ServiceUnavailableException"},
		{&UpstreamError{Err: errors.New("connection refused")}, 500, "Unable to reach EKS Auth: connection refused"},
		{&UpstreamError{Status: 200, Err: errors.New("bad JSON")}, 500, "EKS Auth answered 200 unusably: bad JSON"},
		{errors.New("EKS Auth answered without credentials"), 500, "Internal error"},
	}
	for _, tt := range tests {
		up := newUpstream(func(context.Context, string, int) (Credentials, error) { return Credentials{}, tt.err })
		e := newHandlerEnv(t, up, nil)
		w := e.do("GET", "169.254.170.23", podJWT(t, "web-0", time.Now().Add(time.Hour)))
		if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("upstream %v: %d %q, want %d containing %q", tt.err, w.Code, w.Body, tt.want, tt.body)
		}
	}
}

// A pod gets an answer before its SDK gives up, even while EKS Auth hangs.
func TestHandlerAnswersWithinBound(t *testing.T) {
	up := newUpstream(func(ctx context.Context, _ string, _ int) (Credentials, error) {
		<-ctx.Done()
		return Credentials{}, &UpstreamError{Err: ctx.Err()}
	})
	e := newHandlerEnv(t, up, func(h *handler) { h.answerWithin = 50 * time.Millisecond })
	start := time.Now()
	w := e.do("GET", "169.254.170.23", podJWT(t, "web-0", time.Now().Add(time.Hour)))
	if d := time.Since(start); w.Code != 500 || d > time.Second || !strings.Contains(w.Body.String(), "retry shortly") {
		t.Errorf("%d %q after %v, want 500 within about 50ms", w.Code, w.Body, d)
	}
}

// Beyond its rate the agent queues requests for a bounded time instead of
// refusing them at once.
func TestHandlerQueuesBursts(t *testing.T) {
	frozen := newClock() // turns are computed as if the requests came at once
	e := newHandlerEnv(t, hourCreds(), func(h *handler) {
		h.inbound = newLimiter(50, 1, frozen.Now) // a turn every 20ms
		h.queueWait = 70 * time.Millisecond       // so 4 fit: now, +20, +40, +60
	})
	tok := podJWT(t, "web-0", time.Now().Add(time.Hour))
	codes := make(chan int, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); codes <- e.do("GET", "169.254.170.23", tok).Code }()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[200] != 4 || n[429] != 6 {
		t.Errorf("codes %v: want 4 answered after queueing, 6 refused with 429", n)
	}
}

// Tokens and secrets never reach the logs.
func TestHandlerLogsNoSecrets(t *testing.T) {
	tok := podJWT(t, "web-0", time.Now().Add(time.Hour))
	other := podJWT(t, "web-1", time.Now().Add(time.Hour))
	up := newUpstream(func(_ context.Context, token string, n int) (Credentials, error) {
		if token == other {
			return Credentials{}, &UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "Invalid token"}
		}
		return Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "TOPSECRETKEY", SessionToken: "SESSIONSECRET",
			Expiration: time.Now().Add(time.Hour)}, nil
	})
	e := newHandlerEnv(t, up, nil)
	e.do("GET", "169.254.170.23", tok)
	e.do("GET", "169.254.170.23", tok)
	e.do("GET", "169.254.170.23", other)
	e.do("GET", "evil.example", tok)
	logs := e.log.String()
	for _, secret := range []string{tok[strings.LastIndex(tok, ".")+1:], other[strings.LastIndex(other, ".")+1:], strings.Split(tok, ".")[1], "TOPSECRETKEY", "SESSIONSECRET"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"pod":"web-0"`) || !strings.Contains(logs, `"msg":"credentials fetched"`) ||
		!strings.Contains(logs, `"pod":"web-1"`) || !strings.Contains(logs, "InvalidTokenException") {
		t.Errorf("logs do not say whose credentials were fetched:\n%s", logs)
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"169.254.170.23:80": "169.254.170.23", "[fd00:ec2::23]:80": "fd00:ec2::23", "[fd00:ec2:0::23]": "fd00:ec2::23",
		"fd00:ec2::23": "fd00:ec2::23", "Example.COM:8080": "example.com", "": "",
	} {
		if got := canonicalHost(in); got != want {
			t.Errorf("canonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}
