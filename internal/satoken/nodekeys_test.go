package satoken

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/testenv"
)

// The node agent's keys come from the API server's JWKS URL; the set last
// fetched is kept on disk, so that tokens still verify while the API
// server is down, even after the agent restarts, and a token naming a key
// it has not seen makes it look again, no more than once per interval.
func TestKeysKeptOnDisk(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k1, k2 := newECSigner(t, "k1"), newECSigner(t, "k2")
	var down atomic.Bool
	var fetches atomic.Int64
	served := atomic.Value{}
	served.Store(jwksJSON(t, k1))
	srv, _ := testenv.TLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(served.Load().([]byte))
	}))
	cacheFile := filepath.Join(t.TempDir(), "keys", "jwks.json")
	client := srv.Client()
	newKeys := func() *Keys {
		k, err := NewKeys(KeysConfig{JWKSURL: srv.URL + "/openid/v1/jwks", HTTPClient: client, CacheFile: cacheFile, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keys := newKeys()
	tok := k1.mint(t, validClaims(clk.Now()))
	id, iss, err := keys.Verify(ctx, tok)
	if err != nil || iss != testIssuer || id.PodUID != wantIdentity(clk.Now()).PodUID {
		t.Fatalf("Verify = %v, %q, %v", id, iss, err)
	}
	if _, err := os.Stat(cacheFile); err != nil {
		t.Fatalf("the keys were not kept on disk: %v", err)
	}

	// The API server goes down; a restarted agent still verifies.
	down.Store(true)
	restarted := newKeys()
	if _, _, err := restarted.Verify(ctx, tok); err != nil {
		t.Errorf("with the API server down, after a restart: %v", err)
	}
	// A token signed by a key the agent never saw cannot be verified now.
	other := k2.mint(t, validClaims(clk.Now()))
	checkCode(t, restarted, other, podidentity.CodeUnavailable)

	// Back up with a rotated key set: the unknown kid is looked up, within
	// the rate limit, and the new set is kept on disk.
	down.Store(false)
	served.Store(jwksJSON(t, k1, k2))
	before := fetches.Load()
	clk.Advance(DefaultMinRefreshInterval)
	if _, _, err := restarted.Verify(ctx, other); err != nil {
		t.Fatalf("after the key rotation: %v", err)
	}
	forged := rawToken(t, map[string]any{"alg": "ES256", "kid": "made-up"}, validClaims(clk.Now()), make([]byte, 64))
	for range 10 {
		checkCode(t, restarted, forged, podidentity.CodeInvalidToken)
	}
	if n := fetches.Load() - before; n != 1 {
		t.Errorf("fetches = %d, want 1: unknown key ids must not make the agent hammer the API server", n)
	}
	down.Store(true)
	if _, _, err := newKeys().Verify(ctx, other); err != nil {
		t.Errorf("the rotated set was not kept on disk: %v", err)
	}
}

// Keys checks what EKS Auth checks, the issuer aside: a token for another
// audience, signed by the cluster, is refused.
func TestKeysRefuseOtherAudiences(t *testing.T) {
	clk := newClock()
	k1 := newECSigner(t, "k1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, jwksJSON(t, k1), clk.Now())
	keys, err := NewKeys(KeysConfig{JWKSFile: path, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := validClaims(clk.Now())
	claims["aud"] = []string{"https://kubernetes.default.svc"}
	checkCode(t, keys, k1.mint(t, claims), podidentity.CodeInvalidToken)
	claims = validClaims(clk.Now())
	claims["exp"] = clk.Now().Add(-time.Hour).Unix()
	checkCode(t, keys, k1.mint(t, claims), podidentity.CodeExpiredToken)
}

func checkCode(t *testing.T, k *Keys, tok string, want podidentity.Code) {
	t.Helper()
	_, _, err := k.Verify(context.Background(), tok)
	pe, ok := err.(*podidentity.Error)
	if !ok || pe.Code != want {
		t.Errorf("Verify: %v, want code %s", err, want)
	}
}

// countWarnings counts the warnings about keeping the keys on disk.
type countWarnings struct{ n atomic.Int64 }

func (c *countWarnings) Enabled(context.Context, slog.Level) bool { return true }
func (c *countWarnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "keep the keys on disk") {
		c.n.Add(1)
	}
	return nil
}
func (c *countWarnings) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countWarnings) WithGroup(string) slog.Handler      { return c }

// A key cache file that cannot be written is tried again on every
// verification, but warned about at most once a minute: a busy node would
// otherwise log a line per pod request.
func TestKeysUnwritableCacheFileWarnsRarely(t *testing.T) {
	clk := newClock()
	k1 := newECSigner(t, "k1")
	srv, _ := testenv.TLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwksJSON(t, k1))
	}))
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	warnings := &countWarnings{}
	keys, err := NewKeys(KeysConfig{JWKSURL: srv.URL + "/openid/v1/jwks", HTTPClient: srv.Client(),
		CacheFile: filepath.Join(notDir, "jwks.json"), Now: clk.Now, Logger: slog.New(warnings)})
	if err != nil {
		t.Fatal(err)
	}
	tok := k1.mint(t, validClaims(clk.Now()))
	for range 5 {
		if _, _, err := keys.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := warnings.n.Load(); n != 1 {
		t.Errorf("warnings = %d after 5 verifications, want 1", n)
	}
	clk.Advance(time.Minute)
	if _, _, err := keys.Verify(context.Background(), k1.mint(t, validClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	if n := warnings.n.Load(); n != 2 {
		t.Errorf("warnings = %d a minute later, want 2", n)
	}
}
