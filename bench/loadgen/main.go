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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/podidentity/podidentity/bench/internal/loadrun"
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
      clusters: ["*"]
      passRoles: ["*"]
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
	endpoint, err := loadrun.WaitFor(stdout, regexp.MustCompile(`listening on (http://\S+)`))
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

	assume := func(i int) error {
		_, err := call(client, endpoint, "/clusters/load/assume-role-for-pod-identity", "eks-auth", string(bodies[i%pods]), sign)
		return err
	}
	// Warm up (every pod's token verified once, connections open), then
	// measure unloaded latency: one request at a time.
	loadrun.Run(conns, warmup, maxRequests, false, assume)
	single := loadrun.Run(1, time.Minute, 2000, true, assume)
	if single.FirstErr != nil {
		return single.FirstErr
	}
	cpu0, err := loadrun.CPUTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	res := loadrun.Run(conns, duration, maxRequests, true, assume)
	cpu1, _ := loadrun.CPUTime(cmd.Process.Pid)
	ok, lat, p := int64(len(res.Latencies)), res.Latencies, loadrun.Percentile
	fmt.Printf("AssumeRoleForPodIdentity, %d pods, %d connections, signed=%v\n", pods, conns, sign)
	fmt.Printf("  unloaded (1 connection): p50 %s  p99 %s\n", p(single.Latencies, 50), p(single.Latencies, 99))
	fmt.Printf("  loaded: %d requests in %s, %d failed: %.0f req/s\n", res.Requests, res.Elapsed.Round(time.Millisecond), res.Failures, float64(ok)/res.Elapsed.Seconds())
	fmt.Printf("  loaded latency: p50 %s  p90 %s  p99 %s  max %s\n", p(lat, 50), p(lat, 90), p(lat, 99), p(lat, 100))
	if ok > 0 {
		fmt.Printf("  server CPU: %.1f µs per request (%.2f cores busy)\n", float64((cpu1-cpu0).Microseconds())/float64(ok), (cpu1-cpu0).Seconds()/res.Elapsed.Seconds())
	}
	if res.Failures > 0 {
		return fmt.Errorf("%d requests failed, the first: %w", res.Failures, res.FirstErr)
	}
	return nil
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
