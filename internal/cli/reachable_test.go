package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Any HTTP answer means the server can be reached (an unsigned GET gets an
// error from a real AWS endpoint); no answer at all is what is caught.
func TestServerReachable(t *testing.T) {
	answering := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "MissingAuthenticationTokenException", http.StatusForbidden)
	}))
	defer answering.Close()
	if err := serverReachable(answering.URL)(context.Background()); err != nil {
		t.Errorf("a server answering 403: %v, want reachable", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	err = serverReachable(closed)(context.Background())
	if err == nil || !strings.Contains(err.Error(), closed) {
		t.Errorf("nothing listening: %v, want an error naming %s", err, closed)
	}
}

func TestOnceReadyStaysReady(t *testing.T) {
	var up atomic.Bool
	r := &onceReady{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, "server", func(context.Context) error {
			if up.Load() {
				return nil
			}
			return io.ErrUnexpectedEOF
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for r.why() == "not checked yet" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if why := r.why(); !strings.Contains(why, "unexpected EOF") {
		t.Errorf("why() before the check passes = %q, want the check's error", why)
	}
	up.Store(true)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after the check passed")
	}
	up.Store(false)
	if why := r.why(); why != "" {
		t.Errorf("why() after passing once = %q, want ready", why)
	}
}
