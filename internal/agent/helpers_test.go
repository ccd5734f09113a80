package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/podidentity/podidentity/internal/testenv"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newClock is a clock tests move by hand, reading t0.
func newClock() *testenv.Clock { return testenv.NewClock(t0) }

// fakeUpstream is EKS Auth as a function, counting calls per token.
type fakeUpstream struct {
	mu    sync.Mutex
	calls map[string]int
	total atomic.Int64
	fn    func(ctx context.Context, token string, n int) (Credentials, error)
}

func newUpstream(fn func(ctx context.Context, token string, n int) (Credentials, error)) *fakeUpstream {
	return &fakeUpstream{calls: map[string]int{}, fn: fn}
}

func (u *fakeUpstream) AssumeRoleForPodIdentity(ctx context.Context, token string) (Credentials, error) {
	u.mu.Lock()
	u.calls[token]++
	n := u.calls[token]
	u.mu.Unlock()
	u.total.Add(1)
	return u.fn(ctx, token, n)
}

func (u *fakeUpstream) callsFor(token string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[token]
}

// credsUntil answers credentials that expire at exp, numbered by call.
func credsUntil(exp func() time.Time) func(context.Context, string, int) (Credentials, error) {
	return func(_ context.Context, token string, n int) (Credentials, error) {
		return Credentials{
			AccessKeyID:     fmt.Sprintf("ASIA%016d", n),
			SecretAccessKey: "secret",
			SessionToken:    "session-" + fmt.Sprint(n),
			AccountID:       "111122223333",
			Expiration:      exp(),
		}, nil
	}
}

// jwt builds an unsigned token of the shape kube-apiserver mints; the agent
// never checks signatures, so none is needed.
func jwt(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "RS256", "kid": "k1"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("signature"))
}

// podJWT is a token for pod name in default/app that expires at exp.
func podJWT(t testing.TB, pod string, exp time.Time) string {
	return jwt(t, map[string]any{
		"iss": "https://issuer.example", "aud": []string{"pods.eks.amazonaws.com"},
		"sub": "system:serviceaccount:default:app", "exp": exp.Unix(), "iat": exp.Add(-24 * time.Hour).Unix(),
		"nbf": exp.Add(-24 * time.Hour).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "default",
			"pod":            map[string]any{"name": pod, "uid": "uid-" + pod},
			"serviceaccount": map[string]any{"name": "app", "uid": "sa-uid"},
		},
	})
}

func mustToken(t testing.TB, raw string, now time.Time) podToken {
	t.Helper()
	tok, err := parseToken(raw, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testMetrics(t testing.TB) (*metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, func() float64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// metricValue is the value of the counter, gauge or histogram count name
// with exactly the labels given (pairs), or 0.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel())*2 != len(labels) {
				continue
			}
			for i := 0; i < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
