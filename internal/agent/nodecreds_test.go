package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/podidentity/podidentity/internal/sigv4"
)

// signedBy is EKS Auth that checks each call's SigV4 signature against
// the node keys it knows and records which key signed the call for each
// token.
type signedBy struct {
	verifier sigv4.Verifier[string]
	mu       sync.Mutex
	byToken  map[string]string
	refused  atomic.Int64
}

func newSignedBy(secrets map[string]string) *signedBy {
	s := &signedBy{byToken: map[string]string{}}
	s.verifier.Lookup = func(_ context.Context, key, _ string) (string, string, error) { return secrets[key], key, nil }
	return s
}

func (s *signedBy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	res, err := s.verifier.Verify(r.Context(), r, body, "eks-auth")
	if err != nil {
		s.refused.Add(1)
		w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":%q}`, err.Error())
		return
	}
	var in struct{ Token string }
	json.Unmarshal(body, &in)
	s.mu.Lock()
	s.byToken[in.Token] = res.AccessKeyID
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, assumeOK)
}

func (s *signedBy) keyFor(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byToken[token]
}

// writeCredentials replaces the file as rotators do: a new file renamed
// over the old one.
func writeCredentials(t *testing.T, path, key, secret, session string) {
	t.Helper()
	tmp := path + ".tmp"
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n", key, secret, session)
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// With --rotate-credentials the node's credentials file is rotated under a
// serving agent (Roles Anywhere's helper, nodeadm): the calls to EKS Auth
// after the rotation are signed with the new key, and no pod sees an error.
func TestRotatedNodeCredentialsSignNextCalls(t *testing.T) {
	const keyA, keyB = "ASIANODEOLD000000001", "ASIANODENEW000000002"
	upstream := newSignedBy(map[string]string{keyA: "secret-a", keyB: "secret-b"})
	srv := httptest.NewServer(upstream)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "credentials")
	writeCredentials(t, path, keyA, "secret-a", "session-a")
	creds := NewSharedCredentialsFile(path, "", discardLog())
	a, _ := runAgent(t, Config{Upstream: NewEKSAuth(EKSAuthConfig{
		AWS: aws.Config{Region: "us-west-2", Credentials: creds}, ClusterName: "demo", Endpoint: srv.URL,
	})})
	url := a.CredentialURLs()[0]
	exp := time.Now().Add(time.Hour)

	// Pods keep asking, for cached and new tokens alike, all along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000; i++ { // bounded; stop ends it sooner
				select {
				case <-stop:
					return
				default:
				}
				if !getOK(url, podJWT(t, fmt.Sprintf("busy-%d-%d", w, i%20), exp)) {
					failed.Add(1)
				}
			}
		}()
	}
	ask := func(pod string) string {
		tok := podJWT(t, pod, exp)
		if code, body := httpGet(t, url, tok); code != http.StatusOK {
			t.Fatalf("%s: %d %s", pod, code, body)
		}
		return upstream.keyFor(tok)
	}
	for i := range 5 {
		if got := ask(fmt.Sprintf("before-%d", i)); got != keyA {
			t.Fatalf("before the rotation, a call was signed with %q, want %q", got, keyA)
		}
	}
	writeCredentials(t, path, keyB, "secret-b", "session-b")
	for i := range 5 {
		if got := ask(fmt.Sprintf("after-%d", i)); got != keyB {
			t.Errorf("after the rotation, a call was signed with %q, want %q", got, keyB)
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 || upstream.refused.Load() != 0 {
		t.Errorf("%d pod requests failed, %d upstream calls refused while the file rotated", n, upstream.refused.Load())
	}
}

// A file caught half-written keeps the credentials read before; a file
// that never held credentials is an error naming it.
func TestSharedCredentialsFileKeepsLastGood(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials")
	p := NewSharedCredentialsFile(path, "", discardLog())
	if _, err := p.Retrieve(ctx); err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("no file: %v, want an error naming %s", err, path)
	}
	writeCredentials(t, path, "ASIAONE0000000000001", "s1", "t1")
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIAONE0000000000001" || c.SessionToken != "t1" {
		t.Fatalf("Retrieve = %v, %v", c, err)
	}
	os.WriteFile(path, []byte("[default]\naws_acc"), 0o600) // half-written
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIAONE0000000000001" {
		t.Errorf("half-written file: %v, %v; want the credentials read before", c, err)
	}
	os.Remove(path)
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIAONE0000000000001" {
		t.Errorf("file gone: %v, %v; want the credentials read before", c, err)
	}
}

// getOK is httpGet for goroutines other than the test's: no t.Fatal.
func getOK(url, token string) bool {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// A rotator that rewrites the file in place can be caught half-way while
// the SDK parses it, and a cut-off secret parses as well as a whole one:
// the file is taken only when it reads the same before and after parsing,
// else the credentials read before stay in use until the next call.
func TestSharedCredentialsFileChangingWhileRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials")
	p := NewSharedCredentialsFile(path, "", discardLog())
	writeCredentials(t, path, "ASIAONE0000000000001", "s1", "t1")
	if _, err := p.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	whole := "[default]\naws_access_key_id = ASIATWO0000000000002\naws_secret_access_key = secret-two\naws_session_token = t2\n"
	if err := os.WriteFile(path, []byte(whole[:len(whole)-30]), 0o600); err != nil { // the secret cut short
		t.Fatal(err)
	}
	reads := 0
	readFile := p.read
	p.read = func() ([]byte, error) {
		if reads++; reads == 2 { // the rotator finishes while the SDK parses
			if err := os.WriteFile(path, []byte(whole), 0o600); err != nil {
				t.Error(err)
			}
		}
		return readFile()
	}
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIAONE0000000000001" {
		t.Errorf("file rewritten while read: %s, %v; want the credentials read before", c.AccessKeyID, err)
	}
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIATWO0000000000002" || c.SecretAccessKey != "secret-two" {
		t.Errorf("file rewritten: %s, %v; want ASIATWO0000000000002 with its whole secret", c.AccessKeyID, err)
	}
}

// A credentials file larger than the bound is refused, not parsed in
// part or in whole; one read before stays in use.
func TestSharedCredentialsFileTooLarge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials")
	body := "[default]\naws_access_key_id = ASIABIG0000000000001\naws_secret_access_key = s\n" +
		strings.Repeat("# padding\n", maxCredentialsFileBytes/10+1)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := NewSharedCredentialsFile(path, "", discardLog())
	if c, err := p.Retrieve(ctx); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %s, %v; want it refused", c.AccessKeyID, err)
	}
	writeCredentials(t, path, "ASIAONE0000000000001", "s1", "t1")
	if _, err := p.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Retrieve(ctx); err != nil || c.AccessKeyID != "ASIAONE0000000000001" {
		t.Errorf("oversized file after a good one: %s, %v; want the credentials read before", c.AccessKeyID, err)
	}
}
