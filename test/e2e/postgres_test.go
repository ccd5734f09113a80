package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/pgtest"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// Several replicas of the real binary on one PostgreSQL database, which
// each test starts itself (internal/store/pgtest), and the faults the
// issue names: PostgreSQL restarted under load, a replica SIGKILLed under
// load, /readyz following the database.

// pgSealingKey is a configured key that seals local session tokens.
type pgSealingKey struct{ id, secret string }

func newSealingKey(t *testing.T, id string) pgSealingKey {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return pgSealingKey{id, base64.StdEncoding.EncodeToString(b)}
}

// pgReplica is one replica's configuration.
type pgReplica struct {
	storage        string
	storageOptions string // YAML flow mapping, e.g. "{passwordFile: /x}"; "" for none
	sealing        []pgSealingKey
	limit          int // 0: the default
}

// pgConfig writes a replica's configuration into its own directory.
func pgConfig(t *testing.T, dir string, keys *clusterKeys, r pgReplica) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var extra strings.Builder
	if r.storageOptions != "" {
		fmt.Fprintf(&extra, "storageOptions: %s\n", r.storageOptions)
	}
	if len(r.sealing) > 0 {
		extra.WriteString("credentials:\n  sealingKeys:\n")
		for _, k := range r.sealing {
			fmt.Fprintf(&extra, "    - id: %s\n      key: %s\n", k.id, k.secret)
		}
	}
	if r.limit > 0 {
		fmt.Fprintf(&extra, "limits:\n  associationsPerCluster: %d\n", r.limit)
	}
	return writeConfig(t, dir, fmt.Sprintf(`
region: us-west-2
accountId: "111122223333"
storage: %s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
  - name: other
    issuer: https://issuer.example/other
    jwksFile: %s
log:
  format: json
%s`+adminAuth, r.storage, keys.jwks, keys.jwks, extra.String()))
}

// startTogether starts one server per configuration at the same moment, so
// that they race to migrate the schema as replicas of a new Deployment do.
func startTogether(t *testing.T, env []string, configs ...string) []*server {
	t.Helper()
	servers := make([]*server, len(configs))
	for i, cfg := range configs {
		servers[i] = launchServer(t, fmt.Sprintf("replica %d", i), env, "--config", cfg)
	}
	for _, s := range servers {
		s.WaitReady(t, 30*time.Second)
	}
	return servers
}

func pgAuthClient(url string) *eksauth.Client {
	return eksauth.New(eksauth.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(e2eKey, e2eSecret, ""),
		HTTPClient:  &http.Client{Timeout: 15 * time.Second},
	})
}

// pgCallerIdentity asks a replica's STS who minted credentials belong to.
func pgCallerIdentity(ctx context.Context, url string, c *eksauth.AssumeRoleForPodIdentityOutput) (string, error) {
	client := sts.New(sts.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(*c.Credentials.AccessKeyId, *c.Credentials.SecretAccessKey, *c.Credentials.SessionToken),
		HTTPClient:  &http.Client{Timeout: 15 * time.Second},
	})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return *out.Arn, nil
}

// apiCode is the AWS error code of err, "transport: ..." when no AWS
// answer came back, "" for no error.
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "transport: " + err.Error()
}

func readyz(url string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond every 50ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func createInput(cluster, ns, sa, token string) *eks.CreatePodIdentityAssociationInput {
	in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(cluster), Namespace: aws.String(ns),
		ServiceAccount: aws.String(sa), RoleArn: aws.String("arn:aws:iam::111122223333:role/" + sa)}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	return in
}

// listAll pages through a cluster's associations: service account -> ids.
func listAll(t *testing.T, ctx context.Context, c *eks.Client, cluster string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var next *string
	for {
		page, err := c.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster), MaxResults: aws.Int32(100), NextToken: next})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, a := range page.Associations {
			out[*a.ServiceAccount] = append(out[*a.ServiceAccount], *a.AssociationId)
		}
		if page.NextToken == nil {
			return out
		}
		next = page.NextToken
	}
}

// Two replicas on one database behave as one service: either serves what
// the other wrote, verifies what the other minted (across a key rotation),
// and together they keep uniqueness and the quota.
func TestPostgresTwoReplicas(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	k1, k2 := newSealingKey(t, "k1"), newSealingKey(t, "k2")

	// Replica A reads the password from a file, B from the environment; A
	// seals with k1, B with k2 (a rotation under way), each opens both.
	pwFile := filepath.Join(dir, "pg-password")
	os.WriteFile(pwFile, []byte(pg.Password()+"\n"), 0o600)
	noPassword := strings.Replace(dbURL, ":"+pg.Password()+"@", "@", 1)
	cfgA := pgConfig(t, filepath.Join(dir, "a"), keys, pgReplica{storage: noPassword, storageOptions: "{passwordFile: " + pwFile + ", maxConns: 6, minConns: 1}",
		sealing: []pgSealingKey{k1, k2}, limit: 40})
	cfgB := pgConfig(t, filepath.Join(dir, "b"), keys, pgReplica{storage: noPassword, storageOptions: "{passwordEnv: E2E_PG_PASSWORD}",
		sealing: []pgSealingKey{k2, k1}, limit: 40})
	env := append(os.Environ(), "E2E_PG_PASSWORD="+pg.Password())
	replicas := startTogether(t, env, cfgA, cfgB)
	a, b := replicas[0], replicas[1]
	for _, s := range replicas {
		if code := readyz(s.URL); code != 200 {
			t.Fatalf("readyz = %d", code)
		}
		if strings.Contains(s.Logs.String(), pg.Password()) {
			t.Fatal("a replica logged the database password")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eksA, eksB := eksClient(a.URL), eksClient(b.URL)
	authA, authB := pgAuthClient(a.URL), pgAuthClient(b.URL)
	token := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)
	assume := func(c *eksauth.Client) (*eksauth.AssumeRoleForPodIdentityOutput, error) {
		return c.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)})
	}

	t.Run("CreateOnOneAssumeOnTheOther", func(t *testing.T) {
		// B looks first and remembers "no association"; A's create must
		// reach B within the lookup cache's bound.
		if _, err := assume(authB); apiCode(err) != "ResourceNotFoundException" {
			t.Fatalf("assume before create: %v", err)
		}
		if _, err := eksA.CreatePodIdentityAssociation(ctx, createInput("demo", "default", "app", "")); err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		var out *eksauth.AssumeRoleForPodIdentityOutput
		if !waitFor(5*time.Second, func() bool { var err error; out, err = assume(authB); return err == nil }) {
			t.Fatal("replica B never saw the association replica A created")
		}
		lag := time.Since(created)
		t.Logf("association created on A served by B after %s (bound: LookupCacheTTL %s)", lag.Round(time.Millisecond), pi.LookupCacheTTL)
		if lag > pi.LookupCacheTTL+time.Second {
			t.Errorf("B took %s to see A's association; the documented bound is %s", lag, pi.LookupCacheTTL)
		}
		if !strings.Contains(*out.AssumedRoleUser.Arn, "assumed-role/app/") {
			t.Errorf("assumed %s", *out.AssumedRoleUser.Arn)
		}
	})

	t.Run("CredentialsVerifyOnEveryReplica", func(t *testing.T) {
		fromA, err := assume(authA)
		if err != nil {
			t.Fatal(err)
		}
		fromB, err := assume(authB)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*eksauth.AssumeRoleForPodIdentityOutput{"A's (sealed with k1)": fromA, "B's (sealed with k2)": fromB} {
			for rname, r := range map[string]*server{"A": a, "B": b} {
				arn, err := pgCallerIdentity(ctx, r.URL, c)
				if err != nil || arn != *c.AssumedRoleUser.Arn {
					t.Errorf("%s credentials on replica %s: %q, %v", name, rname, arn, err)
				}
			}
		}
		// The rotation completes: a replica that knows only k2 still
		// opens B's credentials and refuses A's.
		cfgC := pgConfig(t, filepath.Join(dir, "c"), keys, pgReplica{storage: dbURL, sealing: []pgSealingKey{k2}, limit: 40})
		c := startServer(t, "--config", cfgC)
		if arn, err := pgCallerIdentity(ctx, c.URL, fromB); err != nil || arn != *fromB.AssumedRoleUser.Arn {
			t.Errorf("k2-only replica with k2 credentials: %q %v", arn, err)
		}
		if _, err := pgCallerIdentity(ctx, c.URL, fromA); err == nil {
			t.Error("a replica without k1 accepted credentials sealed with k1")
		}
	})

	t.Run("ChangesOnOneReplicaSeenByTheOther", func(t *testing.T) {
		x, err := eksA.CreatePodIdentityAssociation(ctx, createInput("demo", "jobs", "etl", ""))
		if err != nil {
			t.Fatal(err)
		}
		id := x.Association.AssociationId
		if _, err := eksB.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
			AssociationId: id, RoleArn: aws.String("arn:aws:iam::111122223333:role/etl-v2")}); err != nil {
			t.Fatal(err)
		}
		d, err := eksA.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: id})
		if err != nil || *d.Association.RoleArn != "arn:aws:iam::111122223333:role/etl-v2" {
			t.Fatalf("A after B's update: %+v %v", d, err)
		}
		etlToken := keys.mint(t, tokenmint.Pod{Namespace: "jobs", ServiceAccount: "etl", PodName: "etl-0"}, time.Now(), time.Hour)
		if _, err := authB.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(etlToken)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eksA.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: id}); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		if !waitFor(5*time.Second, func() bool {
			_, err := authB.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(etlToken)})
			return apiCode(err) == "ResourceNotFoundException"
		}) {
			t.Fatal("B kept issuing credentials for an association A deleted")
		}
		if lag := time.Since(deleted); lag > pi.LookupCacheTTL+time.Second {
			t.Errorf("B took %s to stop serving a deleted association", lag)
		}
	})

	t.Run("UniqueAcrossReplicas", func(t *testing.T) {
		for round := range 3 {
			sa := fmt.Sprintf("race-%d", round)
			var wins atomic.Int32
			codes := make([]string, 10)
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := eksA
					if i%2 == 1 {
						c = eksB
					}
					if _, err := c.CreatePodIdentityAssociation(ctx, createInput("demo", "race", sa, "")); err != nil {
						codes[i] = apiCode(err)
						return
					}
					wins.Add(1)
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d creates of one service account succeeded across replicas", round, wins.Load())
			}
			for _, c := range codes {
				if c != "" && c != "ResourceInUseException" {
					t.Errorf("a losing create failed with %s, want ResourceInUseException", c)
				}
			}
		}
	})

	t.Run("QuotaAcrossReplicas", func(t *testing.T) {
		var (
			next, wins atomic.Int32
			mu         sync.Mutex
			other      []string
			wg         sync.WaitGroup
		)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := eksA
				if i%2 == 1 {
					c = eksB
				}
				for n := next.Add(1); n <= 60; n = next.Add(1) {
					_, err := c.CreatePodIdentityAssociation(ctx, createInput("other", "quota", fmt.Sprintf("sa-%02d", n), ""))
					switch {
					case err == nil:
						wins.Add(1)
					case apiCode(err) != "ResourceLimitExceededException":
						mu.Lock()
						other = append(other, apiCode(err))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 40 || len(other) > 0 {
			t.Fatalf("60 creates against a quota of 40 through two replicas: %d succeeded, unexpected errors %v", wins.Load(), other)
		}
		if n := len(listAll(t, ctx, eksB, "other")); n != 40 {
			t.Fatalf("cluster holds %d associations, quota 40", n)
		}
	})
}

// pgLoad drives creates (each with a client token, retried while the
// service says it is unavailable) and AssumeRoleForPodIdentity calls, and
// records what was acknowledged and how every failure looked.
type pgLoad struct {
	mu           sync.Mutex
	acked        map[string]string // service account -> association id
	failures     map[string]int    // error code -> count
	slowestFail  time.Duration
	assumeOK     atomic.Int64
	createOK     atomic.Int64
	next         atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	maxCreates   int64
	retryTimeout time.Duration
	prefix       string // of the service accounts this load creates
}

func newPGLoad(prefix string, maxCreates int64) *pgLoad {
	return &pgLoad{acked: map[string]string{}, failures: map[string]int{}, stop: make(chan struct{}),
		maxCreates: maxCreates, retryTimeout: 30 * time.Second, prefix: prefix}
}

func (l *pgLoad) fail(err error, d time.Duration) string {
	code := apiCode(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[code]++
	if d > l.slowestFail {
		l.slowestFail = d
	}
	return code
}

func (l *pgLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// worker creates through c and assumes through auth until stopped; with
// giveUpOnTransport it ends at the first transport error (its replica
// died) instead of retrying.
func (l *pgLoad) worker(ctx context.Context, c *eks.Client, auth *eksauth.Client, token string, giveUpOnTransport bool) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for !l.stopped() && ctx.Err() == nil {
			n := l.next.Add(1)
			if n > l.maxCreates {
				return
			}
			sa := fmt.Sprintf("%s%05d", l.prefix, n)
			for start := time.Now(); ; {
				t0 := time.Now()
				out, err := c.CreatePodIdentityAssociation(ctx, createInput("demo", "load", sa, "token-"+sa))
				if err == nil {
					l.mu.Lock()
					l.acked[sa] = *out.Association.AssociationId
					l.mu.Unlock()
					l.createOK.Add(1)
					break
				}
				code := l.fail(err, time.Since(t0))
				if strings.HasPrefix(code, "transport") && giveUpOnTransport {
					return
				}
				if code != "ServiceUnavailableException" || time.Since(start) > l.retryTimeout || ctx.Err() != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			t0 := time.Now()
			if _, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)}); err != nil {
				if code := l.fail(err, time.Since(t0)); strings.HasPrefix(code, "transport") && giveUpOnTransport {
					return
				}
			} else {
				l.assumeOK.Add(1)
			}
		}
	}()
}

func (l *pgLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *pgLoad) failureCount(code string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[code]
}

func (l *pgLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// verifyAcked checks that every acknowledged create is stored, under the
// id that was acknowledged, and that the load's service accounts hold
// exactly one association each: retries made no duplicates.
func (l *pgLoad) verifyAcked(t *testing.T, ctx context.Context, c *eks.Client, allAcked bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	stored := listAll(t, ctx, c, "demo")
	for sa, id := range l.acked {
		ids := stored[sa]
		if len(ids) != 1 || ids[0] != id {
			t.Errorf("acknowledged create %s (%s) is stored as %v", sa, id, ids)
		}
	}
	for sa, ids := range stored {
		if len(ids) != 1 {
			t.Errorf("service account %s holds %d associations", sa, len(ids))
		}
		if _, ok := l.acked[sa]; allAcked && !ok && strings.HasPrefix(sa, l.prefix) {
			t.Errorf("%s is stored but was never acknowledged although its client retried to success", sa)
		}
	}
}

// PostgreSQL restarts under a create and assume load through two replicas:
// requests fail fast with ServiceUnavailableException while it is down,
// /readyz says so, both replicas recover by themselves, and no
// acknowledged create is lost or duplicated.
func TestPostgresRestartDuringLoad(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	seal := newSealingKey(t, "k1")
	var cfgs []string
	for _, name := range []string{"a", "b"} {
		cfgs = append(cfgs, pgConfig(t, filepath.Join(dir, name), keys, pgReplica{storage: dbURL, sealing: []pgSealingKey{seal}}))
	}
	replicas := startTogether(t, nil, cfgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := eksClient(replicas[0].URL).CreatePodIdentityAssociation(ctx, createInput("demo", "default", "app", "")); err != nil {
		t.Fatal(err)
	}
	token := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)

	load := newPGLoad("load-", 3000)
	for i := range 6 {
		r := replicas[i%2]
		other := replicas[(i+1)%2]
		load.worker(ctx, eksClient(r.URL), pgAuthClient(other.URL), token, false)
	}
	if !waitFor(20*time.Second, func() bool { return load.ackedCount() >= 30 }) {
		load.finish()
		t.Fatalf("only %d creates acknowledged before the restart", load.ackedCount())
	}

	pg.Stop(t)
	down := time.Now()
	for i, r := range replicas {
		if !waitFor(5*time.Second, func() bool { return readyz(r.URL) == http.StatusServiceUnavailable }) {
			t.Errorf("replica %d: /readyz still %d with the database down", i, readyz(r.URL))
		}
	}
	if !waitFor(10*time.Second, func() bool { return load.failureCount("ServiceUnavailableException") >= 6 }) {
		t.Errorf("no ServiceUnavailableException while the database was down (failures: %v)", load.failures)
	}
	ackedWhileDown := load.ackedCount()
	time.Sleep(time.Until(down.Add(2 * time.Second)))

	pg.Resume(t)
	up := time.Now()
	for i, r := range replicas {
		if !waitFor(20*time.Second, func() bool { return readyz(r.URL) == http.StatusOK }) {
			t.Errorf("replica %d: /readyz did not recover within 20s of the database's return", i)
		}
	}
	if !waitFor(20*time.Second, func() bool { return load.ackedCount() >= ackedWhileDown+30 }) {
		t.Errorf("creates did not resume after the database came back (%d acknowledged)", load.ackedCount())
	}
	recovered := time.Since(up)
	load.finish()

	t.Logf("%d creates and %d assumes succeeded; failures by code: %v; slowest failure %s; database down %s; writes flowing again %s after it returned",
		load.createOK.Load(), load.assumeOK.Load(), load.failures, load.slowestFail.Round(time.Millisecond), up.Sub(down).Round(time.Millisecond), recovered.Round(time.Millisecond))
	for code := range load.failures {
		if code != "ServiceUnavailableException" {
			t.Errorf("requests failed with %s (%d times); only ServiceUnavailableException is acceptable during a restart", code, load.failures[code])
		}
	}
	if load.slowestFail > 6*time.Second {
		t.Errorf("a request took %s to fail; they must fail fast", load.slowestFail)
	}
	load.verifyAcked(t, ctx, eksClient(replicas[1].URL), true)
}

// A replica SIGKILLed under load: the other keeps serving without a single
// error, and everything either acknowledged is there.
func TestPostgresReplicaSIGKILL(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	seal := newSealingKey(t, "k1")
	var cfgs []string
	for _, name := range []string{"a", "b"} {
		cfgs = append(cfgs, pgConfig(t, filepath.Join(dir, name), keys, pgReplica{storage: dbURL, sealing: []pgSealingKey{seal}}))
	}
	replicas := startTogether(t, nil, cfgs...)
	a, b := replicas[0], replicas[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := eksClient(b.URL).CreatePodIdentityAssociation(ctx, createInput("demo", "default", "app", "")); err != nil {
		t.Fatal(err)
	}
	token := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)

	onA, onB := newPGLoad("via-a-", 1500), newPGLoad("via-b-", 1500)
	for range 3 {
		onA.worker(ctx, eksClient(a.URL), pgAuthClient(a.URL), token, true)
		onB.worker(ctx, eksClient(b.URL), pgAuthClient(b.URL), token, false)
	}
	if !waitFor(20*time.Second, func() bool { return onA.ackedCount() >= 40 }) {
		t.Fatalf("only %d creates acknowledged by A before the kill", onA.ackedCount())
	}
	a.Kill()
	killed := time.Now()
	bAtKill := onB.createOK.Load()
	time.Sleep(3 * time.Second) // B carries on alone
	onA.finish()
	onB.finish()

	t.Logf("A acknowledged %d creates before SIGKILL; B: %d creates (%d after the kill, in %s) and %d assumes, failures %v",
		onA.ackedCount(), onB.createOK.Load(), onB.createOK.Load()-bAtKill, time.Since(killed).Round(time.Millisecond), onB.assumeOK.Load(), onB.failures)
	if len(onB.failures) > 0 {
		t.Errorf("the surviving replica failed requests: %v", onB.failures)
	}
	if onB.createOK.Load()-bAtKill < 10 {
		t.Errorf("the surviving replica completed only %d creates after the kill", onB.createOK.Load()-bAtKill)
	}
	client := eksClient(b.URL)
	onA.verifyAcked(t, ctx, client, false)
	onB.verifyAcked(t, ctx, client, true)

	// The killed replica comes back on the same database and serves.
	restarted := startServer(t, "--config", cfgs[0])
	if code := readyz(restarted.URL); code != 200 {
		t.Fatalf("restarted replica: readyz %d", code)
	}
	if _, err := pgAuthClient(restarted.URL).AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)}); err != nil {
		t.Fatal(err)
	}
}

// Moving from the single SQLite server to PostgreSQL replicas with
// `podidentity migrate`: associations and the generated sealing key come
// along, so credentials issued before the move still verify after it; and
// export | import through stdin and stdout reproduces the database.
func TestPostgresMigrateFromSQLite(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir := t.TempDir()
	keys := newClusterKeys(t, dir, "https://issuer.example/demo")
	sqliteURL := "sqlite://" + filepath.Join(dir, "single.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Before: one server on SQLite, with a generated sealing key.
	single := startServer(t, "--config", pgConfig(t, filepath.Join(dir, "single"), keys, pgReplica{storage: sqliteURL}))
	created, err := eksClient(single.URL).CreatePodIdentityAssociation(ctx, createInput("demo", "default", "app", ""))
	if err != nil {
		t.Fatal(err)
	}
	token := keys.mint(t, tokenmint.Pod{Namespace: "default", ServiceAccount: "app", PodName: "web-0"}, time.Now(), time.Hour)
	before, err := pgAuthClient(single.URL).AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	single.Stop(t)

	out, stderr, err := runCmd(t, ctx, binary, "migrate", "--from", sqliteURL, "--to", dbURL)
	if err != nil || !strings.Contains(out, "migrated 1 associations") {
		t.Fatalf("migrate: %v\n%s%s", err, out, stderr)
	}

	// After: a PostgreSQL replica with no configured key finds the
	// migrated one.
	replica := startServer(t, "--config", pgConfig(t, filepath.Join(dir, "pg"), keys, pgReplica{storage: dbURL}))
	if arn, err := pgCallerIdentity(ctx, replica.URL, before); err != nil || arn != *before.AssumedRoleUser.Arn {
		t.Fatalf("credentials issued before the migration, on a PostgreSQL replica: %q %v", arn, err)
	}
	d, err := eksClient(replica.URL).DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: created.Association.AssociationId})
	if err != nil || !d.Association.CreatedAt.Equal(*created.Association.CreatedAt) {
		t.Fatalf("migrated association: %+v %v", d, err)
	}
	if _, err := pgAuthClient(replica.URL).AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"), Token: aws.String(token)}); err != nil {
		t.Fatal(err)
	}

	// Backup and restore through pipes, as an operator scripts them.
	exp := exec.CommandContext(ctx, binary, "export", "--storage", dbURL)
	var expErr strings.Builder
	exp.Stderr = &expErr
	backup, err := exp.Output()
	if err != nil {
		t.Fatalf("export: %v %s", err, expErr.String())
	}
	restoreURL := "sqlite://" + filepath.Join(dir, "restored.db")
	imp := exec.CommandContext(ctx, binary, "import", "--storage", restoreURL)
	imp.Stdin = strings.NewReader(string(backup))
	if out, err := imp.CombinedOutput(); err != nil || !strings.Contains(string(out), "imported 1 associations") {
		t.Fatalf("import: %v %s", err, out)
	}
	restored := startServer(t, "--config", pgConfig(t, filepath.Join(dir, "restored"), keys, pgReplica{storage: restoreURL}))
	if arn, err := pgCallerIdentity(ctx, restored.URL, before); err != nil || arn != *before.AssumedRoleUser.Arn {
		t.Fatalf("credentials after export/import: %q %v", arn, err)
	}
}
