package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePods is the API server's pods as a map from namespace/name to UID,
// counting the checks made.
type fakePods struct {
	mu    sync.Mutex
	uids  map[string]string
	err   error
	calls map[string]int // by UID asked about
	// block, when set, holds a check for the UID until it is closed.
	block map[string]chan struct{}
	// deadlines are how long each check was given.
	deadlines []time.Duration
}

func newFakePods(uids map[string]string) *fakePods {
	return &fakePods{uids: uids, calls: map[string]int{}, block: map[string]chan struct{}{}}
}

func (f *fakePods) PodGone(ctx context.Context, namespace, name, uid string) (bool, error) {
	f.mu.Lock()
	f.calls[uid]++
	if d, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(d))
	} else {
		f.deadlines = append(f.deadlines, -1)
	}
	block := f.block[uid]
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	current, ok := f.uids[namespace+"/"+name]
	return !ok || current != uid, nil
}

func (f *fakePods) callsFor(uid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[uid]
}

// A background renewal is skipped, and the entry dropped, only when the
// API server positively says the pod is gone: deleted, or its name now
// belongs to a pod with another UID. Every other answer renews (fail open),
// and an entry whose pod is not known is renewed without asking.
func TestRenewOnlyForLivePods(t *testing.T) {
	web0 := func(t *testing.T) string { return podJWT(t, "web-0", t0.Add(24*time.Hour)) }
	noPod := func(t *testing.T) string {
		return jwt(t, map[string]any{"iss": "https://issuer.example", "exp": t0.Add(24 * time.Hour).Unix(),
			"kubernetes.io": map[string]any{"namespace": "default", "serviceaccount": map[string]any{"name": "app", "uid": "sa-uid"}}})
	}
	tests := []struct {
		name      string
		token     func(t *testing.T) string
		uids      map[string]string
		err       error
		wantCheck bool
		renewed   bool
	}{
		{"pod deleted", web0, map[string]string{}, nil, true, false},
		{"name reused by a pod with another UID", web0, map[string]string{"default/web-0": "uid-new"}, nil, true, false},
		{"pod alive", web0, map[string]string{"default/web-0": "uid-web-0"}, nil, true, true},
		{"API server refuses (403)", web0, nil, errors.New("GET pods/web-0: 403 Forbidden"), true, true},
		{"API server down", web0, nil, context.DeadlineExceeded, true, true},
		{"pod not known", noPod, map[string]string{}, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			pods := newFakePods(tt.uids)
			pods.err = tt.err
			e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, func(c *cacheConfig) { c.pods = pods })
			logs := &syncWriter{w: &bytes.Buffer{}}
			e.c.log = slog.New(slog.NewJSONHandler(logs, nil))
			tok := tt.token(t)
			e.mustGet(t, tok)
			clock.Advance(50 * time.Minute) // due, and near expiry: a request refreshes in the foreground
			e.mustGet(t, tok)
			if n := pods.callsFor("uid-web-0"); n != 0 {
				t.Fatalf("%d pod checks on pods' requests; checks belong to background renewals only", n)
			}
			clock.Advance(31 * time.Minute) // the foreground refresh is due for renewal
			e.sweep(t)

			if got := pods.callsFor("uid-web-0"); got != boolInt(tt.wantCheck) {
				t.Errorf("pod checks = %d, want %d", got, boolInt(tt.wantCheck))
			}
			if got, want := e.up.callsFor(tok), 2+boolInt(tt.renewed); got != want {
				t.Errorf("EKS Auth calls = %d, want %d (renewed: %v)", got, want, tt.renewed)
			}
			if got := e.c.len(); got != boolInt(tt.renewed) {
				t.Errorf("cached entries = %d, want %d", got, boolInt(tt.renewed))
			}
			if got := e.state(t, stateGone); got != float64(boolInt(!tt.renewed)) {
				t.Errorf("pod_identity_cache_state{state=gone} = %v", got)
			}
			if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(logs.String(), sig) {
				t.Errorf("the logs hold the token:\n%s", logs)
			}
			if tt.renewed {
				return
			}
			if !strings.Contains(logs.String(), `"pod":"web-0","pod_uid":"uid-web-0"`) {
				t.Errorf("no log line names the pod that is gone:\n%s", logs)
			}
			// Dropped, not kept until it lapses: the dead pod's token is
			// answered by EKS Auth again, never from the cache.
			e.mustGet(t, tok)
			if got := e.up.callsFor(tok); got != 3 {
				t.Errorf("EKS Auth calls after the entry was dropped = %d, want 3", got)
			}
		})
	}
}

// A check is bounded by podCheckWithin, and a slow one holds up neither
// the sweep nor other pods' renewals, nor is it repeated by the next sweep.
func TestPodCheckDoesNotHoldUpTheSweep(t *testing.T) {
	clock := newClock()
	pods := newFakePods(map[string]string{"default/a": "uid-a", "default/b": "uid-b"})
	release := make(chan struct{})
	pods.block["uid-a"] = release
	e := newCacheEnv(t, ttlUpstream(clock, time.Hour), clock, func(c *cacheConfig) { c.pods = pods })
	a, b := podJWT(t, "a", t0.Add(24*time.Hour)), podJWT(t, "b", t0.Add(24*time.Hour))
	e.mustGet(t, a)
	e.mustGet(t, b)
	clock.Advance(31 * time.Minute)

	swept := make(chan struct{})
	go func() { e.c.sweep(context.Background()); close(swept) }()
	select {
	case <-swept:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the sweep waits for a pod check")
	}
	for deadline := time.Now().Add(5 * time.Second); e.up.callsFor(b) != 2 || pods.callsFor("uid-a") != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("b was not renewed (EKS Auth calls %d) while a's pod check hung", e.up.callsFor(b))
		}
	}
	e.c.sweep(context.Background()) // a is still being checked
	if got := pods.callsFor("uid-a"); got != 1 {
		t.Errorf("a was checked %d times; a sweep started a second check while one was pending", got)
	}
	close(release)
	e.settle(t)
	if e.up.callsFor(a) != 2 {
		t.Errorf("EKS Auth calls for a = %d, want 2: renewed once its pod proved alive", e.up.callsFor(a))
	}
	pods.mu.Lock()
	defer pods.mu.Unlock()
	for _, d := range pods.deadlines {
		if d <= 0 || d > podCheckWithin {
			t.Errorf("a pod check was given %v, want at most %v", d, podCheckWithin)
		}
	}
}
