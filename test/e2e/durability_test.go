package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

func eksClient(url string) *eks.Client {
	return eks.New(eks.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(e2eKey, e2eSecret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
	})
}

// A server killed with SIGKILL in the middle of a write load must, after a
// restart on the same SQLite file, hold every association it acknowledged.
func TestSIGKILLLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	cfg := basicConfig(t, dir)
	srv := startServer(t, "--config", cfg)
	client := eksClient(srv.URL)

	var (
		mu    sync.Mutex
		acked = map[string]string{} // id -> service account
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Load() < 2000 {
				sa := fmt.Sprintf("sa-%05d", next.Add(1))
				out, err := client.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
					ClusterName: aws.String("demo"), Namespace: aws.String("load"), ServiceAccount: aws.String(sa),
					RoleArn: aws.String("arn:aws:iam::111122223333:role/app")})
				if err != nil {
					return // the kill below ends the load
				}
				mu.Lock()
				acked[*out.Association.AssociationId] = sa
				mu.Unlock()
			}
		}()
	}
	// Let some writes land, then crash the server mid-load.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
	}
	srv.Kill()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged before the kill")
	}

	restarted := startServer(t, "--config", cfg)
	client = eksClient(restarted.URL)
	for id, sa := range acked {
		out, err := client.DescribePodIdentityAssociation(context.Background(), &eks.DescribePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), AssociationId: aws.String(id)})
		if err != nil {
			t.Fatalf("acknowledged association %s (%s) lost after SIGKILL: %v", id, sa, err)
		}
		if *out.Association.ServiceAccount != sa {
			t.Fatalf("association %s has service account %s, want %s", id, *out.Association.ServiceAccount, sa)
		}
	}
	t.Logf("%d acknowledged creates all survived SIGKILL", len(acked))
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
region: mars-1
accountId: 123
clusters:
  - name: demo
    issuer: not-a-url
bogus: true
`)
	_, stderr, err := runCmd(t, context.Background(), binary, "server", "--config", cfg)
	if err == nil || !strings.Contains(stderr, `unknown key "bogus"`) {
		t.Fatalf("unknown key: err %v stderr %q", err, stderr)
	}
	cfg = writeConfig(t, dir, `
region: mars-1
accountId: "123"
clusters:
  - name: demo
    issuer: not-a-url
`)
	_, stderr, err = runCmd(t, context.Background(), binary, "server", "--config", cfg)
	for _, want := range []string{"region:", "accountId:", "clusters[0].issuer:", "clusters[0]: set exactly one of jwksFile"} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("config errors should all be reported; %q missing from:\n%s", want, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCmd(t, context.Background(), binary, "version")
	if err != nil || !strings.HasPrefix(out, "podidentity ") {
		t.Fatalf("version: %q %v", out, err)
	}
}
