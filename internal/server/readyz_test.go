package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// A server that cannot validate its cluster's tokens yet is not Ready: the
// chart's `helm install --wait` must not pass while every pod would be
// refused. Once the keys are loaded they are kept, so a later outage of
// the cluster's key endpoint does not take the server out of its Service.
func TestReadyOnlyOnceTheClusterKeysAreLoaded(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	var up atomic.Bool
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	}))
	defer keys.Close()
	validator, err := satoken.New([]satoken.ClusterConfig{{Name: "demo", Issuer: "https://issuer.example/demo", JWKSURL: keys.URL}},
		satoken.Options{HTTPClient: keys.Client(), MinRefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := pi.NewService(ctx, pi.ServiceConfig{Store: store, Region: "us-west-2", AccountID: testAccount,
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer.example/demo"}}})
	if err != nil {
		t.Fatal(err)
	}
	verifier, policy := testAuth(t)
	ts := httptest.NewServer(New(Config{Service: svc, Store: store, Verifier: verifier, Authorizer: policy,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), KeysLoaded: validator.Prefetch}))
	defer ts.Close()

	readyz := func() (int, string) {
		resp, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != 503 || !strings.Contains(body, "cluster demo") {
		t.Errorf("readyz before the keys load = %d %q, want 503 naming the cluster", code, body)
	}
	up.Store(true)
	time.Sleep(10 * time.Millisecond) // past MinRefreshInterval, which also spaces retries
	if code, body := readyz(); code != 200 {
		t.Errorf("readyz once the keys load = %d %q, want 200", code, body)
	}
	up.Store(false)
	if code, body := readyz(); code != 200 {
		t.Errorf("readyz after the key endpoint went away = %d %q, want 200 (the keys are kept)", code, body)
	}
}
