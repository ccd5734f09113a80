package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/podidentity/podidentity/internal/testenv"
)

// The agent's service-account token goes to the API server only: when the
// API server (or something answering for it) redirects, the redirect is
// not followed, so the token never reaches the host it names.
func TestAPIServerClientDoesNotFollowRedirects(t *testing.T) {
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
	}))
	defer elsewhere.Close()
	apiServer, caFile := testenv.TLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/jwks", http.StatusFound)
	}))

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := apiServerClient(caFile, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(apiServer.URL + apiServerJWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d, want the redirect itself (302)", resp.StatusCode)
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the agent's token was sent to the redirect's host %d times", n)
	}
}
