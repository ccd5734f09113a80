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
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/testenv"
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
func (c *cluster) eksAuth(t testing.TB, clock *testenv.Clock) *fakeUpstream {
	t.Helper()
	v, err := satoken.New([]satoken.ClusterConfig{{Name: "demo", Issuer: c.signer.Issuer(), StaticKeys: c.signer.JWKS()}},
		satoken.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := credsUntil(func() time.Time { return clock.Now().Add(6 * time.Hour) })
	return newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		if _, err := v.Validate(ctx, "demo", token); err != nil {
			return Credentials{}, &UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "invalid token", Err: err}
		}
		return ok(ctx, token, n)
	})
}

func (c *cluster) keys(t testing.TB, clock *testenv.Clock) TokenVerifier {
	t.Helper()
	k, err := satoken.NewKeys(satoken.KeysConfig{JWKSFile: c.jwksFile, Now: clock.Now})
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
			got := e.mustGet(t, cl.mint(t, fmt.Sprintf("pod-%d", p), clock.Now()))
			if minute == 0 {
				first[p] = got
			} else if got != first[p] {
				t.Fatalf("minute %d, pod %d: got %s, want the pod's own credentials %s", minute, p, got.AccessKeyID, first[p].AccessKeyID)
			}
		}
		clock.Advance(time.Minute)
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
	genuine := cl.mint(t, "web-0", clock.Now())
	e.mustGet(t, genuine)
	clock.Advance(time.Minute)

	forged := forge(t, genuine, clock.Now().Add(24*time.Hour))
	unsigned := podJWT(t, "web-0", clock.Now().Add(24*time.Hour)) // made up, with a garbage signature
	for name, tok := range map[string]string{"forged signature": forged, "garbage signature": unsigned} {
		t.Run(name, func(t *testing.T) {
			if tk := mustToken(t, tok, clock.Now()); name == "forged signature" && tk.pod != mustToken(t, genuine, clock.Now()).pod {
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
	e.mustGet(t, cl.mint(t, "web-0", clock.Now()))
	if n := e.state(t, stateReused); n != 1 {
		t.Errorf("reused = %v after the pod's own rotated token, want 1", n)
	}
}

// forge copies genuine's claims and the cluster's key id, as a forger
// could, sets exp, and signs with a key of its own.
func forge(t testing.TB, genuine string, exp time.Time) string {
	t.Helper()
	var claims map[string]any
	parsed, err := josejwt.ParseSigned(genuine, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	parsed.UnsafeClaimsWithoutVerification(&claims)
	claims["exp"] = exp.Unix()
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
	return forged
}

// Without a key source, or with one that cannot be reached, a rotated
// token is exchanged with EKS Auth, as the AWS agent does.
func TestRotatedTokenWithoutKeysAsksEKSAuth(t *testing.T) {
	cl := newCluster(t)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	for name, verifier := range map[string]func(*testenv.Clock) TokenVerifier{
		"no key source": func(*testenv.Clock) TokenVerifier { return nil },
		"keys unreachable": func(clock *testenv.Clock) TokenVerifier {
			k, err := satoken.NewKeys(satoken.KeysConfig{JWKSURL: deadURL + "/openid/v1/jwks", Now: clock.Now})
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
				e.mustGet(t, cl.mint(t, "web-0", clock.Now()))
				clock.Advance(time.Minute)
			}
			if n := up.total.Load(); n != 3 {
				t.Errorf("EKS Auth calls = %d, want 3 (one per token)", n)
			}
		})
	}
}

// unavailableOnce is a verifier whose first verification finds the keys
// out of reach, as when the API server is slow on a pod's request.
type unavailableOnce struct {
	calls atomic.Int64
	next  TokenVerifier
}

func (u *unavailableOnce) Verify(ctx context.Context, tok string) (*podidentity.PodIdentity, string, error) {
	if u.calls.Add(1) == 1 {
		return nil, "", podidentity.Errorf(podidentity.CodeUnavailable, "the keys cannot be had yet")
	}
	return u.next.Verify(ctx, tok)
}

// When EKS Auth refuses a pod's rotated token for good (here its
// association was deleted), a retry of that token is not served the
// pod's old credentials by reuse, and the pod's entry is checked again at
// once with the token EKS Auth accepted, and dropped when that is refused
// too. The rotated token went to EKS Auth because its first verification
// could not get the keys.
func TestRefusedRotatedTokenIsNotReused(t *testing.T) {
	for _, code := range []string{"ResourceNotFoundException", "AccessDeniedException"} {
		t.Run(code, func(t *testing.T) {
			cl := newCluster(t)
			clock := newClock()
			ok := credsUntil(func() time.Time { return clock.Now().Add(6 * time.Hour) })
			var deleted atomic.Bool
			up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
				if deleted.Load() {
					return Credentials{}, &UpstreamError{Status: 400, Code: code, Message: "no"}
				}
				return ok(ctx, token, n)
			})
			v := &unavailableOnce{next: cl.keys(t, clock)}
			e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = v })
			accepted := cl.mint(t, "web-0", clock.Now())
			e.mustGet(t, accepted) // no entry yet: nothing to verify
			deleted.Store(true)
			clock.Advance(time.Minute)
			rotated := cl.mint(t, "web-0", clock.Now())
			for try := range 2 {
				if got, err := e.get(t, rotated); !irrecoverable(err) {
					t.Fatalf("try %d: got %s, %v; want EKS Auth's refusal", try, got.AccessKeyID, err)
				}
			}
			if n := e.state(t, stateReused); n != 0 {
				t.Errorf("reused = %v, want 0", n)
			}
			e.sweep(t)
			if n := up.callsFor(accepted); n != 2 {
				t.Errorf("EKS Auth calls for the accepted token = %d, want 2: the entry was not checked again", n)
			}
			if n := e.c.len(); n != 0 {
				t.Errorf("%d entries after the pod's own token was refused, want 0", n)
			}
		})
	}
}

// A made-up token naming a neighbour's pod, refused by EKS Auth with a
// verdict on the pod's identity, neither drops the neighbour's entry nor
// makes it due: its claims were never verified.
func TestRefusedForgedTokenLeavesNeighbourAlone(t *testing.T) {
	cl := newCluster(t)
	clock := newClock()
	ok := credsUntil(func() time.Time { return clock.Now().Add(6 * time.Hour) })
	genuine := cl.mint(t, "web-0", clock.Now())
	forged := forge(t, genuine, clock.Now().Add(24*time.Hour))
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		if token == forged {
			return Credentials{}, &UpstreamError{Status: 404, Code: "ResourceNotFoundException", Message: "no"}
		}
		return ok(ctx, token, n)
	})
	e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = cl.keys(t, clock) })
	want := e.mustGet(t, genuine)
	if mustToken(t, forged, clock.Now()).pod != mustToken(t, genuine, clock.Now()).pod {
		t.Fatal("the forged token does not claim the pod")
	}
	if _, err := e.get(t, forged); !irrecoverable(err) {
		t.Fatalf("forged token: %v, want EKS Auth's refusal", err)
	}
	e.sweep(t)
	if n := up.callsFor(genuine); n != 1 {
		t.Errorf("EKS Auth calls for the genuine token = %d, want 1: the forged token made its entry due", n)
	}
	clock.Advance(time.Minute)
	if got := e.mustGet(t, cl.mint(t, "web-0", clock.Now())); got != want {
		t.Errorf("the pod's rotated token got %s, want its cached %s", got.AccessKeyID, want.AccessKeyID)
	}
}

// A token bound to the pod but minted to live far longer than the token
// EKS Auth accepted (anyone who may create tokens for the service account
// can mint one) is not served the pod's credentials by reuse, which would
// skip the server's token lifetime bound: it goes to EKS Auth, which
// refuses it, and the pod's entry is untouched.
func TestLongLivedTokenIsNotReused(t *testing.T) {
	cl := newCluster(t)
	clock := newClock()
	v, err := satoken.New([]satoken.ClusterConfig{{Name: "demo", Issuer: cl.signer.Issuer(), StaticKeys: cl.signer.JWKS(),
		MaxTokenLifetime: 24 * time.Hour}}, satoken.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ok := credsUntil(func() time.Time { return clock.Now().Add(6 * time.Hour) })
	up := newUpstream(func(ctx context.Context, token string, n int) (Credentials, error) {
		if _, err := v.Validate(ctx, "demo", token); err != nil {
			return Credentials{}, &UpstreamError{Status: 400, Code: "InvalidTokenException", Message: "invalid token", Err: err}
		}
		return ok(ctx, token, n)
	})
	e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = cl.keys(t, clock) })
	accepted := cl.mint(t, "web-0", clock.Now())
	want := e.mustGet(t, accepted)
	clock.Advance(time.Minute)
	long, err := cl.signer.Mint(tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0", PodUID: "uid-web-0"},
		clock.Now(), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(t, long); !irrecoverable(err) {
		t.Fatalf("a year-long token got %s, %v; want EKS Auth's refusal", got.AccessKeyID, err)
	}
	if n := e.state(t, stateReused); n != 0 {
		t.Errorf("reused = %v, want 0", n)
	}
	if got := e.mustGet(t, cl.mint(t, "web-0", clock.Now())); got != want {
		t.Errorf("the pod's rotated token got %s, want its cached %s", got.AccessKeyID, want.AccessKeyID)
	}
}

// Refreshes use a token EKS Auth accepted, never a reused one, even one
// that expires later: a reused token was not put to the server's checks,
// and its refusal at refresh would drop the pod's entry.
func TestReusedTokenDoesNotTakeOverRefreshes(t *testing.T) {
	cl := newCluster(t)
	clock := newClock()
	up := cl.eksAuth(t, clock)
	e := newCacheEnv(t, up, clock, func(c *cacheConfig) { c.verifier = cl.keys(t, clock) })
	accepted := cl.mint(t, "web-0", clock.Now())
	e.mustGet(t, accepted)
	clock.Advance(time.Minute)
	rotated := cl.mint(t, "web-0", clock.Now()) // expires a minute after accepted
	e.mustGet(t, rotated)
	if n := e.state(t, stateReused); n != 1 {
		t.Fatalf("reused = %v, want 1", n)
	}
	clock.Advance(3*time.Hour + time.Minute)
	e.sweep(t)
	if a, r := up.callsFor(accepted), up.callsFor(rotated); a != 2 || r != 0 {
		t.Errorf("EKS Auth calls for the accepted, reused token = %d, %d; want 2, 0", a, r)
	}
}
