// Command loadgen measures AssumeRoleForPodIdentity on a real podidentity
// server: it starts the binary on loopback with a throwaway cluster key,
// creates associations, mints pod tokens, then drives the endpoint over
// keep-alive connections, SigV4-signed as the node agent signs, for a
// bounded time and request count. It reports throughput, latency
// percentiles and the server's CPU time per request (from /proc), so
// anyone can rerun the numbers in the project notes:
//
//	go build -o bin/podidentity ./cmd/podidentity
//	go run ./bench/loadgen -binary bin/podidentity -conns 32 -duration 10s
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

const (
	accessKey = "AKIALOADGEN000000001"
	secretKey = "loadgen-secret-key-0000000000000000000000"
)

func main() {
	binary := flag.String("binary", "bin/podidentity", "podidentity binary to start")
	conns := flag.Int("conns", 32, "concurrent keep-alive connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to drive load")
	maxRequests := flag.Int64("requests", 2_000_000, "stop after this many requests")
	pods := flag.Int("pods", 1000, "distinct pod tokens to rotate through")
	sign := flag.Bool("sign", true, "SigV4-sign requests as the node agent does")
	warmup := flag.Duration("warmup", 2*time.Second, "load before measuring")
	flag.Parse()
	if err := run(*binary, *conns, *duration, *warmup, *maxRequests, *pods, *sign); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(binary string, conns int, duration, warmup time.Duration, maxRequests int64, pods int, sign bool) error {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	signer, err := tokenmint.NewSigner(key, "https://loadgen.example/cluster")
	if err != nil {
		return err
	}
	jwks, _ := json.Marshal(signer.JWKS())
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`accountId: "111122223333"
storage: sqlite://%s
log: {level: warn}
clusters:
  - name: load
    issuer: https://loadgen.example/cluster
    jwksFile: %s
auth:
  principals:
    - arn: arn:aws:iam::111122223333:role/node
      accessKeyId: %s
      secretAccessKey: %s
      actions: ["eks:*", "eks-auth:AssumeRoleForPodIdentity"]
`, filepath.Join(dir, "db.sqlite"), filepath.Join(dir, "jwks.json"), accessKey, secretKey)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(binary, "server", "--config", filepath.Join(dir, "config.yaml"), "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	endpoint, err := waitListening(stdout)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}

	// One association per service account; pods spread over 50 of them.
	const accounts = 50
	for i := range accounts {
		body := fmt.Sprintf(`{"namespace":"load","serviceAccount":"sa-%d","roleArn":"arn:aws:iam::111122223333:role/r%d"}`, i, i)
		if _, err := call(client, endpoint, "/clusters/load/pod-identity-associations", "eks", body, sign); err != nil {
			return fmt.Errorf("creating association: %w", err)
		}
	}
	bodies := make([][]byte, pods)
	for i := range pods {
		tok, err := signer.Mint(tokenmint.Pod{Namespace: "load", ServiceAccount: fmt.Sprintf("sa-%d", i%accounts), PodName: fmt.Sprintf("pod-%d", i)}, time.Now(), 12*time.Hour)
		if err != nil {
			return err
		}
		bodies[i], _ = json.Marshal(map[string]string{"token": tok})
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
				lat := make([]time.Duration, 0, 4096)
				for i := c; time.Now().Before(deadline) && n.Add(1) <= maxRequests; i += conns {
					start := time.Now()
					if _, err := call(client, endpoint, "/clusters/load/assume-role-for-pod-identity", "eks-auth", string(bodies[i%pods]), sign); err != nil {
						failures.Add(1)
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

	// Warm up (every pod's token verified once, connections open), then
	// measure unloaded latency: one request at a time.
	load(warmup, false)
	var single []time.Duration
	for i := range 2000 {
		start := time.Now()
		if _, err := call(client, endpoint, "/clusters/load/assume-role-for-pod-identity", "eks-auth", string(bodies[i%pods]), sign); err != nil {
			return err
		}
		single = append(single, time.Since(start))
	}
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	lat, n, failures := load(duration, true)
	elapsed := time.Since(t0)
	cpu1, _ := cpuTime(cmd.Process.Pid)
	ok := int64(len(lat))
	fmt.Printf("AssumeRoleForPodIdentity, %d pods, %d connections, signed=%v\n", pods, conns, sign)
	fmt.Printf("  unloaded (1 connection): p50 %s  p99 %s\n", pct(single, 50), pct(single, 99))
	fmt.Printf("  loaded: %d requests in %s, %d failed: %.0f req/s\n", n, elapsed.Round(time.Millisecond), failures, float64(ok)/elapsed.Seconds())
	fmt.Printf("  loaded latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100))
	if ok > 0 {
		fmt.Printf("  server CPU: %.1f µs per request (%.2f cores busy)\n", float64((cpu1-cpu0).Microseconds())/float64(ok), (cpu1-cpu0).Seconds()/elapsed.Seconds())
	}
	if failures > 0 {
		return fmt.Errorf("%d requests failed", failures)
	}
	return nil
}

func waitListening(r io.Reader) (string, error) {
	re := regexp.MustCompile(`listening on (http://\S+)`)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, r)
			return m[1], nil
		}
	}
	return "", fmt.Errorf("server exited before listening")
}

var awsSigner = v4.NewSigner()

func call(client *http.Client, endpoint, path, service, body string, sign bool) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sign {
		sum := sha256.Sum256([]byte(body))
		if err := awsSigner.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
			req, hex.EncodeToString(sum[:]), service, "us-west-2", time.Now()); err != nil {
			return nil, err
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", service, path, resp.StatusCode, b)
	}
	return b, nil
}

// cpuTime is the user+system CPU time a process has used, from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 Hz on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := (len(d) - 1) * p / 100
	return d[i].Round(time.Microsecond)
}
