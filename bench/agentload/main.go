// Command agentload measures the node agent's cached path: it starts the
// podidentity binary's `agent` on loopback in front of a stub EKS Auth,
// warms its cache with a set of pod tokens, then drives GET /v1/credentials
// over keep-alive connections, as pods' SDKs do, for a bounded time and
// request count. It reports throughput, latency percentiles, the agent's
// CPU time per request (from /proc) and how many calls reached EKS Auth:
//
//	go build -o bin/podidentity ./cmd/podidentity
//	go run ./bench/agentload -binary bin/podidentity -conns 16 -duration 10s
//
// With -aws-flags it starts any agent that takes the AWS agent's command
// line (`server --cluster-name ... --port ...`), aws/eks-pod-identity-agent
// among them, on free loopback ports, so both can be measured alike; -extra
// adds arguments (ours: "--max-request-qps 0", as the AWS agent has no
// inbound limit). -subcommand is what precedes the flags: "server" for the
// AWS agent, "agent server" for podidentity.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
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
	awsFlags := flag.Bool("aws-flags", false, "start the binary with the AWS agent's command line (any compatible agent)")
	extra := flag.String("extra", "", "more arguments for the agent, space-separated")
	subcommand := flag.String("subcommand", "server", "with -aws-flags: the words before the flags")
	tolerate := flag.Bool("tolerate-failures", false, "report failed requests (e.g. 429 from an agent's own rate limit) instead of stopping")
	host := flag.String("host", "", "Host header to send (the AWS agent 0.1.x accepts only 169.254.170.23 and fd00:ec2::23, whatever it binds)")
	flag.Parse()
	start := startPodidentity
	if *awsFlags {
		words := strings.Fields(*subcommand)
		start = func(binary, endpoint string, extra []string) (*exec.Cmd, string, error) {
			return startWithAWSFlags(binary, words, endpoint, extra)
		}
	}
	if err := run(start, *binary, strings.Fields(*extra), *host, *tolerate, *conns, *duration, *warmup, *maxRequests, *pods); err != nil {
		fmt.Fprintln(os.Stderr, "agentload:", err)
		os.Exit(1)
	}
}

// agentStarter starts an agent in front of EKS Auth at endpoint and returns
// its credentials URL.
type agentStarter func(binary, endpoint string, extra []string) (*exec.Cmd, string, error)

// agentEnv is the node's: fixed keys, nothing of the caller's.
var agentEnv = []string{"AWS_ACCESS_KEY_ID=AKIALOADGEN000000001", "AWS_SECRET_ACCESS_KEY=loadgen", "AWS_REGION=us-west-2",
	"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}

// startPodidentity starts `podidentity agent` on any free ports; it says
// where it serves.
func startPodidentity(binary, endpoint string, extra []string) (*exec.Cmd, string, error) {
	cmd := exec.Command(binary, append([]string{"agent", "--cluster-name", "load", "--endpoint", endpoint,
		"--bind-hosts", "127.0.0.1", "--port", "0", "--probe-port", "0",
		"--metrics-address", "127.0.0.1", "--metrics-port", "0", "--max-request-qps", "0", "--verbosity", "warn"}, extra...)...)
	cmd.Env = agentEnv
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	u, err := loadrun.WaitFor(stdout, regexp.MustCompile(`serving credentials on (http://\S+)`))
	return cmd, u, err
}

// startWithAWSFlags starts an agent with the AWS agent's flags on free
// ports, then waits until its credential port accepts connections.
func startWithAWSFlags(binary string, subcommand []string, endpoint string, extra []string) (*exec.Cmd, string, error) {
	var ports [3]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	args := append(append([]string{}, subcommand...), "--cluster-name", "load", "--endpoint", endpoint,
		"--bind-hosts", "127.0.0.1", "--port", strconv.Itoa(ports[0]), "--probe-port", strconv.Itoa(ports[1]),
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(ports[2]))
	cmd := exec.Command(binary, append(args, extra...)...)
	cmd.Env = agentEnv
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return cmd, "http://" + addr + "/v1/credentials", nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return nil, "", fmt.Errorf("%s does not listen on %s after 10 s", binary, addr)
		}
	}
}

func run(start agentStarter, binary string, extra []string, host string, tolerate bool, conns int, duration, warmup time.Duration, maxRequests int64, pods int) error {
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

	cmd, endpoint, err := start(binary, stub.URL, extra)
	if err != nil {
		return err
	}
	defer cmd.Process.Kill()

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
		if host != "" {
			req.Host = host
		}
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
	if single.FirstErr != nil && !tolerate {
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
	fmt.Printf("%s: GET /v1/credentials, cached, %d pods, %d connections\n", binary, pods, conns)
	fmt.Printf("  unloaded (1 connection): p50 %s  p99 %s, %d of %d failed\n", p(single.Latencies, 50), p(single.Latencies, 99), single.Failures, single.Requests)
	fmt.Printf("  loaded: %d requests in %s, %d failed: %.0f req/s\n", res.Requests, res.Elapsed.Round(time.Millisecond), res.Failures, float64(ok)/res.Elapsed.Seconds())
	fmt.Printf("  loaded latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", p(lat, 50), p(lat, 90), p(lat, 99), p(lat, 99.9), p(lat, 100))
	if ok > 0 {
		fmt.Printf("  agent CPU: %.1f µs per request (%.2f cores busy)\n", float64((cpu1-cpu0).Microseconds())/float64(ok), (cpu1-cpu0).Seconds()/res.Elapsed.Seconds())
	}
	fmt.Printf("  calls to EKS Auth: %d while warming the cache (one per token), %d under load\n", callsBefore, upstreamCalls.Load()-callsBefore)
	if res.Failures > 0 && tolerate {
		fmt.Printf("  failed requests: %d, the first: %v\n", res.Failures, res.FirstErr)
	} else if res.Failures > 0 {
		return fmt.Errorf("%d requests failed, the first: %w", res.Failures, res.FirstErr)
	}
	return nil
}
