// Command agentload measures the node agent's cached path: it starts the
// podidentity binary's `agent` on loopback in front of a stub EKS Auth,
// warms its cache with a set of pod tokens, then drives GET /v1/credentials
// over keep-alive connections, as pods' SDKs do, for a bounded time and
// request count. It reports throughput, latency percentiles, the agent's
// CPU time per request (from /proc) and how many calls reached EKS Auth:
//
//	go build -o bin/podidentity ./cmd/podidentity
//	go run ./bench/agentload -binary bin/podidentity -conns 16 -duration 10s
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/podidentity/podidentity/bench/internal/loadrun"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

func main() {
	binary := flag.String("binary", "bin/podidentity", "podidentity binary to start")
	conns := flag.Int("conns", 16, "concurrent keep-alive connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive load")
	maxRequests := flag.Int64("requests", 5_000_000, "stop after this many requests")
	pods := flag.Int("pods", 100, "distinct pod tokens to rotate through")
	warmup := flag.Duration("warmup", 2*time.Second, "load before measuring")
	flag.Parse()
	if err := run(*binary, *conns, *duration, *warmup, *maxRequests, *pods); err != nil {
		fmt.Fprintln(os.Stderr, "agentload:", err)
		os.Exit(1)
	}
}

func run(binary string, conns int, duration, warmup time.Duration, maxRequests int64, pods int) error {
	if conns < 1 || pods < 1 || duration <= 0 {
		return fmt.Errorf("-conns, -pods and -duration must be positive")
	}
	// Stub EKS Auth: every call answers fresh 6-hour credentials.
	var upstreamCalls atomic.Int64
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"subject":{"namespace":"load","serviceAccount":"app"},"audience":"pods.eks.amazonaws.com",
"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/load/a-load","associationId":"a-load"},
"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/app/eks-load-%d","assumeRoleId":"AROALOAD:eks-load-%d"},
"credentials":{"sessionToken":"session-%d","secretAccessKey":"secret","accessKeyId":"ASIALOAD%012d","expiration":%d}}`,
			n, n, n, n, time.Now().Add(6*time.Hour).Unix())
	}))
	defer stub.Close()

	cmd := exec.Command(binary, "agent", "--cluster-name", "load", "--endpoint", stub.URL,
		"--bind-hosts", "127.0.0.1", "--port", "0", "--probe-port", "0",
		"--metrics-address", "127.0.0.1", "--metrics-port", "0", "--max-request-qps", "0", "--verbosity", "warn")
	cmd.Env = []string{"AWS_ACCESS_KEY_ID=AKIALOADGEN000000001", "AWS_SECRET_ACCESS_KEY=loadgen", "AWS_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	endpoint, err := loadrun.WaitFor(stdout, regexp.MustCompile(`serving credentials on (http://\S+)`))
	if err != nil {
		return err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	signer, err := tokenmint.NewSigner(key, "https://agentload.example")
	if err != nil {
		return err
	}
	tokens := make([]string, pods)
	for i := range tokens {
		if tokens[i], err = signer.Mint(tokenmint.Pod{Namespace: "load", ServiceAccount: "app", PodName: fmt.Sprintf("pod-%d", i)}, time.Now(), 24*time.Hour); err != nil {
			return err
		}
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	get := func(token string) error {
		req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
		req.Header.Set("Authorization", token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"AccessKeyId"`)) {
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	}

	fetch := func(i int) error { return get(tokens[i%pods]) }
	// Warm up: every token fetched once, connections open. Then unloaded
	// latency, one request at a time.
	for _, tok := range tokens {
		if err := get(tok); err != nil {
			return fmt.Errorf("warming the cache: %w", err)
		}
	}
	loadrun.Run(conns, warmup, maxRequests, false, fetch)
	single := loadrun.Run(1, time.Minute, 2000, true, fetch)
	if single.FirstErr != nil {
		return single.FirstErr
	}
	callsBefore := upstreamCalls.Load()
	cpu0, err := loadrun.CPUTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	res := loadrun.Run(conns, duration, maxRequests, true, fetch)
	cpu1, _ := loadrun.CPUTime(cmd.Process.Pid)
	ok, lat, p := int64(len(res.Latencies)), res.Latencies, loadrun.Percentile
	fmt.Printf("agent GET /v1/credentials, cached, %d pods, %d connections\n", pods, conns)
	fmt.Printf("  unloaded (1 connection): p50 %s  p99 %s\n", p(single.Latencies, 50), p(single.Latencies, 99))
	fmt.Printf("  loaded: %d requests in %s, %d failed: %.0f req/s\n", res.Requests, res.Elapsed.Round(time.Millisecond), res.Failures, float64(ok)/res.Elapsed.Seconds())
	fmt.Printf("  loaded latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", p(lat, 50), p(lat, 90), p(lat, 99), p(lat, 99.9), p(lat, 100))
	if ok > 0 {
		fmt.Printf("  agent CPU: %.1f µs per request (%.2f cores busy)\n", float64((cpu1-cpu0).Microseconds())/float64(ok), (cpu1-cpu0).Seconds()/res.Elapsed.Seconds())
	}
	fmt.Printf("  calls to EKS Auth: %d while warming the cache (one per token), %d under load\n", callsBefore, upstreamCalls.Load()-callsBefore)
	if res.Failures > 0 {
		return fmt.Errorf("%d requests failed, the first: %w", res.Failures, res.FirstErr)
	}
	return nil
}
