package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkCachedCredentialsHandler is the agent's own work for a cache hit:
// host check, token parse and hash, cache lookup, JSON, metrics.
func BenchmarkCachedCredentialsHandler(b *testing.B) {
	benchmarkHandler(b, func(h *handler) { h.inbound = nil })
}

// benchmarkHandler answers one pod's cached credentials in parallel, the
// handler set up by configure.
func benchmarkHandler(b *testing.B, configure func(*handler)) {
	e := newHandlerEnv(b, hourCreds(), configure)
	tok := podJWT(b, "web-0", time.Now().Add(time.Hour))
	if w := e.do("GET", "169.254.170.23", tok); w.Code != 200 {
		b.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "http://169.254.170.23"+CredentialsPath, nil)
			r.Header.Set("Authorization", tok)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkCachedCredentialsHTTP drives a whole agent over loopback with
// keep-alive connections, as pods do, and reports throughput and the 99th
// percentile latency of cache hits. The inbound rate limit is off.
func BenchmarkCachedCredentialsHTTP(b *testing.B) {
	a, _ := runAgent(b, Config{Upstream: hourCreds(), RequestQPS: -1})
	url := a.CredentialURLs()[0]
	tok := podJWT(b, "web-0", time.Now().Add(time.Hour))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func() (time.Duration, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	if _, err := get(); err != nil {
		b.Fatal(err)
	}
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			d, err := get()
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, d)
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCachedCredentialsHandlerLimited is BenchmarkCachedCredentialsHandler
// with the inbound rate limit on but never reached: the limiter's own cost
// on every request.
func BenchmarkCachedCredentialsHandlerLimited(b *testing.B) {
	benchmarkHandler(b, func(h *handler) { h.inbound = newLimiter(1e9, 1e6, time.Now) })
}
