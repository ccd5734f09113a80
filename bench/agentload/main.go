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
	"bufio"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	endpoint, err := waitServing(stdout)
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

	load := func(d time.Duration, record bool) ([]time.Duration, int64, int64) {
		var (
			n, failures atomic.Int64
			mu          sync.Mutex
			all         []time.Duration
			wg          sync.WaitGroup
		)
		deadline := time.Now().Add(d)
		for c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, 1<<16)
				for i := c; time.Now().Before(deadline) && n.Add(1) <= maxRequests; i += conns {
					start := time.Now()
					if err := get(tokens[i%pods]); err != nil {
						if failures.Add(1) == 1 {
							fmt.Fprintln(os.Stderr, "agentload: first failure:", err)
						}
						continue
					}
					lat = append(lat, time.Since(start))
				}
				if record {
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return all, min(n.Load(), maxRequests), failures.Load()
	}

	// Warm up: every token fetched once, connections open. Then unloaded
	// latency, one request at a time.
	for _, tok := range tokens {
		if err := get(tok); err != nil {
			return fmt.Errorf("warming the cache: %w", err)
		}
	}
	load(warmup, false)
	var single []time.Duration
	for i := range 2000 {
		start := time.Now()
		if err := get(tokens[i%pods]); err != nil {
			return err
		}
		single = append(single, time.Since(start))
	}
	callsBefore := upstreamCalls.Load()
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	lat, n, failures := load(duration, true)
	elapsed := time.Since(t0)
	cpu1, _ := cpuTime(cmd.Process.Pid)
	ok := int64(len(lat))
	fmt.Printf("agent GET /v1/credentials, cached, %d pods, %d connections\n", pods, conns)
	fmt.Printf("  unloaded (1 connection): p50 %s  p99 %s\n", pct(single, 50), pct(single, 99))
	fmt.Printf("  loaded: %d requests in %s, %d failed: %.0f req/s\n", n, elapsed.Round(time.Millisecond), failures, float64(ok)/elapsed.Seconds())
	fmt.Printf("  loaded latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", pct(lat, 50), pct(lat, 90), pct(lat, 99), pctf(lat, 99.9), pct(lat, 100))
	if ok > 0 {
		fmt.Printf("  agent CPU: %.1f µs per request (%.2f cores busy)\n", float64((cpu1-cpu0).Microseconds())/float64(ok), (cpu1-cpu0).Seconds()/elapsed.Seconds())
	}
	fmt.Printf("  calls to EKS Auth: %d while warming the cache (one per token), %d under load\n", callsBefore, upstreamCalls.Load()-callsBefore)
	if failures > 0 {
		return fmt.Errorf("%d requests failed", failures)
	}
	return nil
}

// waitServing reads the agent's stdout until it names its credential URL.
func waitServing(r io.Reader) (string, error) {
	re := regexp.MustCompile(`serving credentials on (http://\S+)`)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[1], nil
		}
	}
	return "", fmt.Errorf("agent exited before serving")
}

// cpuTime is the user+system CPU time a process has used, from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: utime and stime are
	// fields 14 and 15 of the line, in clock ticks (100 Hz on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func pct(d []time.Duration, p int) time.Duration { return pctf(d, float64(p)) }

func pctf(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p / 100)
	return d[i].Round(time.Microsecond)
}
