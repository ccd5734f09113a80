package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// cluster is a cluster's token signer and the JWKS file of its keys.
type cluster struct {
	signer   *tokenmint.Signer
	jwksFile string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tokenmint.NewSigner(key, "https://issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return &cluster{signer: s, jwksFile: path}
}

func (c *cluster) mint(t testing.TB, pod string, now time.Time) string {
	t.Helper()
	tok, err := c.signer.Mint(tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: pod, PodUID: "uid-" + pod}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// eksAuth is EKS Auth as far as tokens go: the real validator decides, with
// the cluster's keys, and credentials last 6 hours.
func (c *cluster) eksAuth(t testing.TB, clock *fakeClock) *fakeUpstream {
	t.Helper()
	v, err := satoken.New([]satoken.ClusterConfig{{Name: "demo", Issuer: c.signer.Issuer(), StaticKeys: c.signer.JWKS()}},
		satoken.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ok := credsUntil(func() time.Time { return clock.now().Add(6 * time.Hour) })
	return newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		if _, err := v.Validate(ctx, "demo", token); err != nil {
			return Credentials{}, &UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "invalid token", Err: err}
		}
		return ok(ctx, token, n)
	})
}

func (c *cluster) keys(t testing.TB, clock *fakeClock) TokenVerifier {
	t.Helper()
	k, err := satoken.NewKeys(satoken.KeysConfig{JWKSFile: c.jwksFile, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// 100 pods whose kubelet rotates their token every minute for an hour of
// simulated time cost 100 EKS Auth calls, not 6,000: each rotated token is
// verified against the cluster's keys and served its pod's credentials.
func TestRotatedTokensReusePodCredentials(t *testing.T) {
	cl := newCluster(t)
	clock := newClock()
	up := cl.eksAuth(t, clock)
	e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = cl.keys(t, clock) })
	const pods = 100
	first := make([]Credentials, pods)
	for minute := range 60 {
		for p := range pods {
			got := e.mustGet(t, cl.mint(t, fmt.Sprintf("pod-%d", p), clock.now()))
			if minute == 0 {
				first[p] = got
			} else if got != first[p] {
				t.Fatalf("minute %d, pod %d: got %s, want the pod's own credentials %s", minute, p, got.AccessKeyID, first[p].AccessKeyID)
			}
		}
		clock.advance(time.Minute)
	}
	if n := up.total.Load(); n != pods {
		t.Errorf("EKS Auth calls = %d, want %d (one per pod)", n, pods)
	}
	if n := e.state(t, stateReused); n != pods*59 {
		t.Errorf("reused = %v, want %d", n, pods*59)
	}
	if n := e.c.len(); n != pods {
		t.Errorf("%d entries, want one per pod", n)
	}
}

// A token that claims a live pod (its issuer, namespace, service account
// and UID) but is not signed by the cluster never gets that pod's cached
// credentials: it goes to EKS Auth, which refuses it.
func TestForgedTokenDoesNotGetPodCredentials(t *testing.T) {
	cl := newCluster(t)
	clock := newClock()
	up := cl.eksAuth(t, clock)
	e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = cl.keys(t, clock) })
	genuine := cl.mint(t, "web-0", clock.now())
	e.mustGet(t, genuine)
	clock.advance(time.Minute)

	// The forger copies the genuine claims and the cluster's key id, and
	// signs with a key of its own.
	var claims map[string]any
	parsed, err := josejwt.ParseSigned(genuine, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	parsed.UnsafeClaimsWithoutVerification(&claims)
	claims["exp"] = clock.now().Add(24 * time.Hour).Unix()
	claims["jti"] = "forged"
	own, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: own, KeyID: parsed.Headers[0].KeyID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	unsigned := podJWT(t, "web-0", clock.now().Add(24*time.Hour)) // made up, with a garbage signature
	for name, tok := range map[string]string{"forged signature": forged, "garbage signature": unsigned} {
		t.Run(name, func(t *testing.T) {
			if tk := mustToken(t, tok, clock.now()); name == "forged signature" && tk.pod != mustToken(t, genuine, clock.now()).pod {
				t.Fatal("the forged token does not claim the pod")
			}
			before := up.total.Load()
			if got, err := e.get(t, tok); err == nil {
				t.Fatalf("the token got credentials %s", got.AccessKeyID)
			}
			if up.total.Load() != before+1 {
				t.Errorf("EKS Auth calls = %d, want the token sent to EKS Auth", up.total.Load()-before)
			}
		})
	}
	if n := e.state(t, stateReused); n != 0 {
		t.Errorf("reused = %v, want 0", n)
	}
	// The genuine pod's next token is still recognised.
	e.mustGet(t, cl.mint(t, "web-0", clock.now()))
	if n := e.state(t, stateReused); n != 1 {
		t.Errorf("reused = %v after the pod's own rotated token, want 1", n)
	}
}

// Without a key source, or with one that cannot be reached, a rotated
// token is exchanged with EKS Auth, as the AWS agent does.
func TestRotatedTokenWithoutKeysAsksEKSAuth(t *testing.T) {
	cl := newCluster(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	for name, verifier := range map[string]func(*fakeClock) TokenVerifier{
		"no key source": func(*fakeClock) TokenVerifier { return nil },
		"keys unreachable": func(clock *fakeClock) TokenVerifier {
			k, err := satoken.NewKeys(satoken.KeysConfig{JWKSURL: deadURL + "/openid/v1/jwks", Now: clock.now})
			if err != nil {
				t.Fatal(err)
			}
			return k
		},
	} {
		t.Run(name, func(t *testing.T) {
			clock := newClock()
			up := cl.eksAuth(t, clock)
			e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = verifier(clock) })
			for range 3 {
				e.mustGet(t, cl.mint(t, "web-0", clock.now()))
				clock.advance(time.Minute)
			}
			if n := up.total.Load(); n != 3 {
				t.Errorf("EKS Auth calls = %d, want 3 (one per token)", n)
			}
		})
	}
}
