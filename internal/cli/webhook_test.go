package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/webhook"
)

func TestWebhookFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"--tls-cert-file and --tls-key-file are required", "--endpoint", "--cluster-name is required"}},
		{[]string{"--tls-cert-file", "c", "--tls-key-file", "k", "--endpoint", "ftp://x", "--cluster-name", "c"}, []string{`--endpoint "ftp://x"`}},
		{[]string{"--tls-cert-file", "c", "--tls-key-file", "k", "--endpoint", "http://x", "--cluster-name", "c", "--ip-family", "ipv5", "--token-expiration", "60", "--log-level", "loud"},
			[]string{`--ip-family "ipv5"`, "token expiration 60 s", `--log-level "loud"`}},
		{[]string{"--tls-cert-file", "c", "--tls-key-file", "k", "--endpoint", "http://x", "--cluster-name", "c", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"--tls-cert-file", "c", "--tls-key-file", "k", "--endpoint", "http://x", "--cluster-name", "c", "--sidecar-namespaces", "team"}, []string{"--sidecar-namespaces needs --sidecar-image"}},
		{[]string{"--tls-cert-file", "c", "--tls-key-file", "k", "--endpoint", "http://x", "--cluster-name", "c", "--sidecar-image", "img", "--sidecar-port", "65535"}, []string{"sidecar port 65535"}},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), append([]string{"webhook"}, tc.args...), &stdout, &stderr); code != 2 {
			t.Errorf("webhook %q: exit %d, want 2", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("webhook %q: stderr %q does not say %q", tc.args, stderr.String(), w)
			}
		}
	}
}

// fakeEKS answers ListPodIdentityAssociations as the server does and
// records how it was called.
type fakeEKS struct {
	mu      sync.Mutex
	has     map[string]bool // "namespace/serviceAccount"
	down    bool
	queries []string
	auth    []string
	probes  int // unsigned GET / from the readiness check
	// fail answers that many more lookups with status, or drops the
	// connection when status is 0; old answers like a server from before
	// ResolvePodIdentityAssociation, which knows only the listing.
	fail   int
	status int
	old    bool
}

func (f *fakeEKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/" && r.Header.Get("Authorization") == "" {
		f.probes++ // readiness: can the server be reached at all?
		w.WriteHeader(http.StatusForbidden)
		return
	}
	f.queries = append(f.queries, r.URL.Path+"?"+r.URL.RawQuery)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if f.fail > 0 {
		f.fail--
		if f.status == 0 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailableException")
		w.WriteHeader(f.status)
		w.Write([]byte(`{"message":"try again"}`))
		return
	}
	ns, sa := r.URL.Query().Get("namespace"), r.URL.Query().Get("serviceAccount")
	if f.old {
		if r.URL.Path != "/clusters/kube/pod-identity-associations" {
			w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No operation matches GET."}`))
			return
		}
		list := []map[string]any{}
		if f.has[ns+"/"+sa] {
			list = append(list, map[string]any{"clusterName": "kube", "namespace": ns, "serviceAccount": sa, "associationId": "a-0123456789abcdefg"})
		}
		json.NewEncoder(w).Encode(map[string]any{"associations": list})
		return
	}
	if f.down {
		w.Header().Set("X-Amzn-ErrorType", "ServerException")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"message":"down"}`))
		return
	}
	// ResolvePodIdentityAssociation, as internal/server answers it.
	w.Header().Set("Content-Type", "application/json")
	if !f.has[ns+"/"+sa] {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"message": "No pod identity association found for service account " + sa})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"association": map[string]any{"clusterName": "kube", "namespace": ns, "serviceAccount": sa,
		"associationId": "a-0123456789abcdefg", "associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/kube/a-0123456789abcdefg"}})
}

// writeServingCert writes a self-signed certificate for 127.0.0.1 and
// returns it.
func writeServingCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	// Written to temporary files and renamed, as the kubelet swaps a
	// Secret's files, so that a reader never sees half a pair.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func podReview(namespace, sa string) []byte {
	pod, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": namespace},
		"spec":     map[string]any{"serviceAccountName": sa, "containers": []any{map[string]any{"name": "c", "image": "busybox"}}}})
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": "u-1", "kind": map[string]string{"version": "v1", "kind": "Pod"}, "resource": map[string]string{"version": "v1", "resource": "pods"},
		"namespace": namespace, "operation": "CREATE", "object": json.RawMessage(pod)}})
	return b
}

// TestWebhookProgram runs the webhook as the command does, over TLS, with
// its lookups going to a fake EKS endpoint: associations decide, requests
// are signed with the SDK chain's credentials, a renewed certificate is
// served without a restart, and --fail-closed decides outages.
func TestWebhookProgram(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAPODIDENTITYWEBHOOK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "webhook-secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	eksAPI := &fakeEKS{has: map[string]bool{"team-a/app": true}}
	ep := httptest.NewServer(eksAPI)
	defer ep.Close()

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeServingCert(t, certFile, keyFile, "first")

	start := func(t *testing.T, failClosed bool) (string, *x509.CertPool) {
		cfg := WebhookConfig{
			CertFile: certFile, KeyFile: keyFile, Listen: "127.0.0.1:0", Endpoint: ep.URL, ClusterName: "kube", Region: "us-west-2",
			CacheTTL: time.Minute, NegativeCacheTTL: time.Minute, LookupTimeout: 5 * time.Second, FailClosed: failClosed,
			Log: config.Log{Level: "info", Format: "text"},
		}
		ctx, cancel := context.WithCancel(context.Background())
		p, err := NewWebhookProgram(ctx, cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, io.Discard) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			p.Close()
		})
		return "https://" + p.Addr(), x509.NewCertPool()
	}

	url, roots := start(t, false)
	roots.AddCert(first)
	client := func(roots *x509.CertPool) *http.Client {
		// A new transport each time: a fresh TLS handshake sees the
		// certificate served now.
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	}
	// Ready once the server has been reached.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client(roots).Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook is not ready 5 s after start: %v", err)
		}
	}
	admit := func(t *testing.T, c *http.Client, url, ns, sa string) map[string]any {
		t.Helper()
		resp, err := c.Post(url+"/mutate", "application/json", bytes.NewReader(podReview(ns, sa)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var review struct{ Response map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s: %v", resp.Status, err)
		}
		return review.Response
	}

	if r := admit(t, client(roots), url, "team-a", "app"); r["patchType"] != "JSONPatch" || r["patch"] == nil {
		t.Errorf("associated service account: response %v, want a JSONPatch", r)
	}
	if r := admit(t, client(roots), url, "team-a", "other"); r["allowed"] != true || r["patch"] != nil {
		t.Errorf("service account without association: response %v", r)
	}
	eksAPI.mu.Lock()
	if eksAPI.probes == 0 {
		t.Error("the webhook never checked that its server can be reached")
	}
	if len(eksAPI.queries) != 2 || eksAPI.queries[0] != "/clusters/kube/resolve-pod-identity-association?namespace=team-a&serviceAccount=app" {
		t.Errorf("lookups %q", eksAPI.queries)
	}
	for _, a := range eksAPI.auth {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIAPODIDENTITYWEBHOOK/") || !strings.Contains(a, "/us-west-2/eks/aws4_request") {
			t.Errorf("lookup not signed with the SDK chain's credentials for eks in us-west-2: %q", a)
		}
	}
	eksAPI.mu.Unlock()
	// Cached: no second lookup.
	admit(t, client(roots), url, "team-a", "app")
	if eksAPI.mu.Lock(); len(eksAPI.queries) != 2 {
		t.Errorf("%d lookups after a repeat, want 2 (cached)", len(eksAPI.queries))
	}
	eksAPI.mu.Unlock()

	t.Run("certificate renewal", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // the reloader checks files once a second at most
		second := writeServingCert(t, certFile, keyFile, "second")
		newRoots := x509.NewCertPool()
		newRoots.AddCert(second)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := client(newRoots).Get(url + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the renewed certificate is not served: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("server outage", func(t *testing.T) {
		eksAPI.mu.Lock()
		eksAPI.down = true
		eksAPI.mu.Unlock()
		roots := x509.NewCertPool()
		cert, _ := os.ReadFile(certFile)
		roots.AppendCertsFromPEM(cert)

		openURL, _ := start(t, false)
		r := admit(t, client(roots), openURL, "team-b", "app")
		if r["allowed"] != true || r["patch"] != nil || r["warnings"] == nil {
			t.Errorf("fail open: response %v, want allowed with a warning", r)
		}
		closedURL, _ := start(t, true)
		r = admit(t, client(roots), closedURL, "team-b", "app")
		if r["allowed"] != false || jsonPath(r, "status", "code") != float64(http.StatusServiceUnavailable) {
			t.Errorf("fail closed: response %v, want refused with 503", r)
		}
	})
}

func jsonPath(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

var _ webhook.AssociationChecker = (*eksAssociations)(nil)

// A lookup is retried once on a network error or a 5xx, within the lookup
// timeout, as the AWS SDK retried it; and a server from before
// ResolvePodIdentityAssociation is asked through the listing, so that a
// rolling upgrade neither drops pods' credentials nor, with --fail-closed,
// refuses the pods.
func TestEKSAssociationsRetryAndOldServer(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAPODIDENTITYWEBHOOK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "webhook-secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	api := &fakeEKS{has: map[string]bool{"team-a/app": true}}
	ep := httptest.NewServer(api)
	defer ep.Close()
	a, err := newEKSAssociations(context.Background(), WebhookConfig{Endpoint: ep.URL, ClusterName: "kube", Region: "us-west-2"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.retryPause = time.Millisecond
	lookup := func(sa string, timeout time.Duration) (bool, int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		api.mu.Lock()
		before := len(api.queries)
		api.mu.Unlock()
		has, err := a.HasAssociation(ctx, "team-a", sa)
		api.mu.Lock()
		defer api.mu.Unlock()
		return has, len(api.queries) - before, err
	}
	set := func(fail, status int, old bool) {
		api.mu.Lock()
		api.fail, api.status, api.old = fail, status, old
		api.mu.Unlock()
	}

	for _, tc := range []struct {
		name         string
		fail, status int
		wantErr      bool
		wantQueries  int
	}{
		{"a 503, then the answer", 1, http.StatusServiceUnavailable, false, 2},
		{"a dropped connection, then the answer", 1, 0, false, 2},
		{"two 500s: one retry only", 2, http.StatusInternalServerError, true, 2},
		{"a 403 is not retried", 1, http.StatusForbidden, true, 1},
	} {
		set(tc.fail, tc.status, false)
		has, n, err := lookup("app", 5*time.Second)
		if (err != nil) != tc.wantErr || n != tc.wantQueries || (!tc.wantErr && !has) {
			t.Errorf("%s: has %v, err %v, %d requests; want error %v, %d requests", tc.name, has, err, n, tc.wantErr, tc.wantQueries)
		}
	}
	// The retry waits within the lookup's timeout, never beyond it.
	set(2, http.StatusServiceUnavailable, false)
	a.retryPause = time.Hour
	start := time.Now()
	if _, n, err := lookup("app", 200*time.Millisecond); err == nil || n != 1 || time.Since(start) > 2*time.Second {
		t.Errorf("retry past the timeout: err %v, %d requests after %v", err, n, time.Since(start))
	}
	a.retryPause = time.Millisecond

	set(0, 0, true)
	for sa, want := range map[string]bool{"app": true, "other": false} {
		has, n, err := lookup(sa, 5*time.Second)
		if err != nil || has != want || n != 2 {
			t.Errorf("old server, %s: has %v, err %v, %d requests; want %v from resolve then list", sa, has, err, n, want)
		}
	}
	api.mu.Lock()
	if q := api.queries[len(api.queries)-1]; !strings.HasPrefix(q, "/clusters/kube/pod-identity-associations?") {
		t.Errorf("fallback asked %s", q)
	}
	api.mu.Unlock()
}
