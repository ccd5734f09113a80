package satoken

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/testenv"
)

// fakeAPIServer answers TokenReviews the way kube-apiserver does, from the
// golden responses in testdata/tokenreview, and checks each request
// against the golden request.
type fakeAPIServer struct {
	t testing.TB

	mu       sync.Mutex
	status   int
	response string               // golden file, or a raw body when it starts with "{" or "<"
	mutate   func(map[string]any) // edits the golden response
	delay    time.Duration        // before answering
	auth     []string             // Authorization headers received
	problems []string             // requests that differ from the golden one
	reviews  atomic.Int64
}

func newFakeAPIServer(t testing.TB) *fakeAPIServer {
	return &fakeAPIServer{t: t, status: http.StatusCreated, response: "authenticated.json"}
}

func (s *fakeAPIServer) answer(status int, response string, mutate func(map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.response, s.mutate = status, response, mutate
}

func golden(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "tokenreview", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func (s *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reviews.Add(1)
	s.mu.Lock()
	status, response, mutate, delay := s.status, s.response, s.mutate, s.delay
	s.mu.Unlock()

	var problems []string
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		problems = append(problems, "request line "+r.Method+" "+r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		problems = append(problems, "Content-Type "+ct)
	}
	body, _ := io.ReadAll(r.Body)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		problems = append(problems, "body is not JSON: "+err.Error())
	}
	token, _ := got["spec"].(map[string]any)["token"].(string)
	want := golden(s.t, "request.json")
	want["spec"].(map[string]any)["token"] = token
	if diff := cmp.Diff(want, got); diff != "" {
		problems = append(problems, "request body (-want +got):\n"+diff)
	}
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.problems = append(s.problems, problems...)
	s.mu.Unlock()

	time.Sleep(delay)
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(response, "{") || strings.HasPrefix(response, "<") {
		w.WriteHeader(status)
		io.WriteString(w, response)
		return
	}
	resp := golden(s.t, response)
	if spec, ok := resp["spec"].(map[string]any); ok {
		spec["token"] = token // the API server echoes the spec back
	}
	if mutate != nil {
		mutate(resp)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}

func (s *fakeAPIServer) check(t testing.TB, wantAuth ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		t.Error(p)
	}
	if len(wantAuth) > 0 {
		if diff := cmp.Diff(wantAuth, s.auth); diff != "" {
			t.Errorf("Authorization headers (-want +got):\n%s", diff)
		}
	}
}

type reviewFixture struct {
	v         *Validator
	api       *fakeAPIServer
	srv       interface{ Close() }
	key       *signer
	clk       *testenv.Clock
	tokenFile string
}

func newReviewFixture(t *testing.T, opts Options) *reviewFixture {
	t.Helper()
	f := &reviewFixture{clk: newClock(), key: newECSigner(t, "k1"), api: newFakeAPIServer(t)}
	srv, caFile := testenv.TLSServer(t, f.api)
	f.srv = srv
	f.tokenFile = filepath.Join(t.TempDir(), "token")
	writeFile(t, f.tokenFile, []byte("bearer-one\n"), f.clk.Now())
	cc := staticCluster(f.key)
	cc.TokenReview = &TokenReviewConfig{APIServer: srv.URL, CAFile: caFile, TokenFile: f.tokenFile}
	f.v = newValidator(t, f.clk, opts, cc)
	return f
}

func TestTokenReview(t *testing.T) {
	denyPod := func(m map[string]any) {
		m["status"].(map[string]any)["user"].(map[string]any)["extra"].(map[string]any)["authentication.kubernetes.io/pod-uid"] = []any{"00000000-0000-0000-0000-000000000000"}
	}
	for _, tc := range []struct {
		name     string
		status   int
		response string
		mutate   func(map[string]any)
		code     podidentity.Code // "" = valid
		msg      string
	}{
		{name: "authenticated", status: http.StatusCreated, response: "authenticated.json"},
		{name: "authenticated, 200", status: http.StatusOK, response: "authenticated.json"},
		{name: "audiences not echoed", status: http.StatusCreated, response: "authenticated.json", mutate: func(m map[string]any) { delete(m["status"].(map[string]any), "audiences") }},
		{
			name: "pod deleted", status: http.StatusCreated, response: "unauthenticated.json",
			code: podidentity.CodeInvalidToken, msg: "the token was rejected by the cluster: [invalid bearer token, service account token has been invalidated]",
		},
		{
			name: "unauthenticated without a reason", status: http.StatusCreated, response: "unauthenticated.json",
			mutate: func(m map[string]any) { delete(m["status"].(map[string]any), "error") },
			code:   podidentity.CodeInvalidToken, msg: "the token was rejected by the cluster: not authenticated",
		},
		{
			name: "authenticated as someone else", status: http.StatusCreated, response: "authenticated.json",
			mutate: func(m map[string]any) {
				m["status"].(map[string]any)["user"].(map[string]any)["username"] = "system:serviceaccount:kube-system:admin"
			},
			code: podidentity.CodeInvalidToken, msg: `the cluster authenticated the token as "system:serviceaccount:kube-system:admin"`,
		},
		{
			name: "other audience", status: http.StatusCreated, response: "authenticated.json",
			mutate: func(m map[string]any) {
				m["status"].(map[string]any)["audiences"] = []string{"https://kubernetes.default.svc"}
			},
			code: podidentity.CodeInvalidToken, msg: `did not accept the token for audience "pods.eks.amazonaws.com"`,
		},
		{name: "bound to another pod", status: http.StatusCreated, response: "authenticated.json", mutate: denyPod, code: podidentity.CodeInvalidToken, msg: "bound to a different pod"},
		{name: "server error", status: http.StatusInternalServerError, response: `{"kind":"Status","message":"etcdserver: request timed out"}`, code: podidentity.CodeUnavailable, msg: `cluster "demo" cannot be asked to review the token right now`},
		{name: "forbidden", status: http.StatusForbidden, response: "forbidden.json", code: podidentity.CodeUnavailable, msg: "cannot be asked"},
		{name: "not JSON", status: http.StatusCreated, response: "<html>proxy error</html>", code: podidentity.CodeUnavailable, msg: "cannot be asked"},
		{name: "no status", status: http.StatusCreated, response: `{"kind":"TokenReview"}`, code: podidentity.CodeUnavailable, msg: "cannot be asked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReviewFixture(t, Options{})
			f.api.answer(tc.status, tc.response, tc.mutate)
			tok := f.key.mint(t, validClaims(f.clk.Now()))
			got, err := f.v.Validate(context.Background(), testCluster, tok)
			f.api.check(t, "Bearer bearer-one")
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if diff := cmp.Diff(wantIdentity(f.clk.Now()), got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			checkErr(t, err, tok, tc.code, tc.msg)
		})
	}
}

func TestTokenReviewNotForInvalidTokens(t *testing.T) {
	f := newReviewFixture(t, Options{})
	claims := validClaims(f.clk.Now())
	claims["aud"] = "https://kubernetes.default.svc"
	tok := f.key.mint(t, claims)
	_, err := f.v.Validate(context.Background(), testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeInvalidToken, "audience")
	if n := f.api.reviews.Load(); n != 0 {
		t.Errorf("a token we refuse ourselves was sent to the cluster %d times", n)
	}
}

func TestTokenReviewServerDown(t *testing.T) {
	f := newReviewFixture(t, Options{})
	f.srv.Close()
	tok := f.key.mint(t, validClaims(f.clk.Now()))
	_, err := f.v.Validate(context.Background(), testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeUnavailable, `cluster "demo" cannot be asked to review the token right now; retry the request`)
}

func TestTokenReviewBearerRotation(t *testing.T) {
	f := newReviewFixture(t, Options{CacheSize: -1})
	ctx := context.Background()
	if _, err := f.v.Validate(ctx, testCluster, f.key.mint(t, validClaims(f.clk.Now()))); err != nil {
		t.Fatal(err)
	}
	// kubelet rewrites the projected token.
	writeFile(t, f.tokenFile, []byte("bearer-two"), f.clk.Now().Add(time.Hour))
	if _, err := f.v.Validate(ctx, testCluster, f.key.mint(t, validClaims(f.clk.Now()))); err != nil {
		t.Fatal(err)
	}
	// The file vanishes for a moment: the last token read is still used.
	if err := os.Remove(f.tokenFile); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Validate(ctx, testCluster, f.key.mint(t, validClaims(f.clk.Now()))); err != nil {
		t.Fatal(err)
	}
	f.api.check(t, "Bearer bearer-one", "Bearer bearer-two", "Bearer bearer-two")
}

func TestTokenReviewMissingBearerFile(t *testing.T) {
	key := newECSigner(t, "k1")
	cc := staticCluster(key)
	cc.TokenReview = &TokenReviewConfig{APIServer: "https://127.0.0.1:6443", TokenFile: filepath.Join(t.TempDir(), "absent")}
	if _, err := New([]ClusterConfig{cc}, Options{}); err == nil || !strings.Contains(err.Error(), "TokenReview bearer token") {
		t.Errorf("New = %v, want the missing bearer token reported", err)
	}
}

// TestTokenReviewWithCache checks that the verified-token cache spares
// the signature check but never the TokenReview, whose answer is reused
// only for tokenReviewTTL.
func TestTokenReviewWithCache(t *testing.T) {
	ctx := context.Background()
	f := newReviewFixture(t, Options{})
	tok := f.key.mint(t, validClaims(f.clk.Now()))
	counts := func(wantSig, wantReviews int64) {
		t.Helper()
		if got := []int64{f.v.sigChecks.Load(), f.api.reviews.Load()}; !cmp.Equal(got, []int64{wantSig, wantReviews}) {
			t.Fatalf("signature checks, reviews = %v, want [%d %d]", got, wantSig, wantReviews)
		}
	}
	for range 3 {
		if _, err := f.v.Validate(ctx, testCluster, tok); err != nil {
			t.Fatal(err)
		}
	}
	counts(1, 1)

	f.clk.Advance(tokenReviewTTL + time.Second)
	if _, err := f.v.Validate(ctx, testCluster, tok); err != nil {
		t.Fatal(err)
	}
	counts(1, 2)

	// The pod is deleted: the cluster now rejects the token, cached or not.
	f.api.answer(http.StatusCreated, "unauthenticated.json", nil)
	f.clk.Advance(tokenReviewTTL + time.Second)
	_, err := f.v.Validate(ctx, testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeInvalidToken, "rejected by the cluster")
	counts(1, 3)
	// Negative answers are not cached.
	_, err = f.v.Validate(ctx, testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeInvalidToken, "rejected by the cluster")
	counts(1, 4)
}

func TestTokenReviewConcurrentShared(t *testing.T) {
	f := newReviewFixture(t, Options{})
	f.api.mu.Lock()
	f.api.delay = 100 * time.Millisecond
	f.api.mu.Unlock()
	tok := f.key.mint(t, validClaims(f.clk.Now()))
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { _, errs[i] = f.v.Validate(context.Background(), testCluster, tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := f.api.reviews.Load(); n != 1 {
		t.Errorf("reviews = %d, want 1 shared by all callers", n)
	}
}

func TestTokenReviewCallerGivesUp(t *testing.T) {
	f := newReviewFixture(t, Options{})
	f.api.mu.Lock()
	f.api.delay = 300 * time.Millisecond
	f.api.mu.Unlock()
	tok := f.key.mint(t, validClaims(f.clk.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.v.Validate(ctx, testCluster, tok)
	checkErr(t, err, tok, podidentity.CodeUnavailable, "cannot be asked")
}
