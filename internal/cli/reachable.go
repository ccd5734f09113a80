package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// serverReachable returns a check that the server at url answers HTTP at
// all: any status will do (the check carries no credentials, and a real
// AWS endpoint answers an unsigned GET with an error). A connection
// refused, a name that does not resolve or a timeout is what it catches:
// the agent and the webhook are not ready while their server cannot be
// reached, so `helm install --wait` does not succeed on a broken install.
func serverReachable(url string) func(context.Context) error {
	client := &http.Client{Timeout: 3 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("cannot reach the server at %s: %w", url, err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil
	}
}

// onceReady runs check until it succeeds once, backing off, and reports
// readiness from then on: a server that goes away later is an outage the
// component rides out (cached answers, failing open), not a reason to
// stop serving.
type onceReady struct {
	ok   atomic.Bool
	last atomic.Pointer[string]
}

func (r *onceReady) run(ctx context.Context, what string, check func(context.Context) error, log *slog.Logger) {
	delay := 500 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			r.ok.Store(true)
			return
		}
		msg := err.Error()
		r.last.Store(&msg)
		log.Warn("not ready: "+what, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

// why says what readiness waits for, or "" once ready.
func (r *onceReady) why() string {
	if r.ok.Load() {
		return ""
	}
	if m := r.last.Load(); m != nil {
		return *m
	}
	return "not checked yet"
}
