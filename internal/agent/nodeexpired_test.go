package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// When the node's own session expires, EKS Auth (AWS's signature layer)
// answers every call 403 ExpiredTokenException. That says nothing about the
// pods: their cached credentials, still valid, must go on being served,
// and refreshed once the node has a new session. A pod's expired token
// (400 ExpiredTokenException) still drops its entry.
func TestNodeSessionExpiryKeepsPodCredentials(t *testing.T) {
	var answer atomic.Value // func(http.ResponseWriter)
	ok := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, assumeOK)
	}
	refuse := func(status int, msg string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "ExpiredTokenException")
			w.WriteHeader(status)
			io.WriteString(w, `{"message":"`+msg+`"}`)
		}
	}
	answer.Store(ok)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer.Load().(func(http.ResponseWriter))(w)
	}))
	defer srv.Close()

	clock := newClock()
	m, reg := testMetrics(t)
	c := newCache(cacheConfig{now: clock.Now, refreshQPS: 1000}, newFetcher(newEKSAuthClient(srv.URL), fastPolicy(), clock.Now, m).fetch, m, discardLog())
	t.Cleanup(c.close)
	e := &cacheEnv{c: c, clock: clock, reg: reg}
	tok := podJWT(t, "web-0", t0.Add(24*time.Hour))
	first := e.mustGet(t, tok)

	answer.Store(refuse(http.StatusForbidden, "The security token included in the request is expired"))
	clock.Advance(3 * time.Hour) // the refresh is due
	e.sweep(t)
	if calls.Load() != 2 {
		t.Fatalf("EKS Auth calls = %d, want the refresh tried", calls.Load())
	}
	if c.len() != 1 {
		t.Fatal("the node's expired session dropped a pod's valid credentials")
	}
	if got, err := e.get(t, tok); err != nil || got != first {
		t.Fatalf("after the node's session expired: %v, %v; want the cached credentials", got, err)
	}

	answer.Store(refuse(http.StatusBadRequest, "The specified Kubernetes service account token is expired."))
	clock.Advance(2 * time.Minute) // past the retry delay
	e.sweep(t)
	if c.len() != 0 {
		t.Error("the pod's expired token did not drop its entry")
	}
}
