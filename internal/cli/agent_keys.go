package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/podidentity/podidentity/internal/agent"
	"github.com/podidentity/podidentity/internal/satoken"
)

// Where a pod finds its own service-account token and the cluster's CA.
const (
	inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	inClusterCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	apiServerJWKSPath  = "/openid/v1/jwks"
)

// agentKeys is the agent's source of the cluster's token signing keys,
// which lets a pod's rotated token reuse its pod's credentials: --jwks-file,
// else --jwks-url, else, inside a cluster, the API server's own JWKS read
// with the agent's service-account token. Outside a cluster and without a
// flag there is none (nil, nil) and every new token goes to EKS Auth.
func agentKeys(f *agentFlags, log *slog.Logger) (agent.TokenVerifier, string, error) {
	cfg := satoken.KeysConfig{Logger: log}
	switch {
	case f.jwksFile != "":
		cfg.JWKSFile = f.jwksFile
	case f.jwksURL == "none":
		return nil, "none (--jwks-url none)", nil
	case f.jwksURL != "":
		cfg.JWKSURL = f.jwksURL
	default:
		apiServer, why := inClusterAPIServer()
		if apiServer == "" {
			return nil, "none (" + why + "; no --jwks-url or --jwks-file)", nil
		}
		cfg.JWKSURL = apiServer + apiServerJWKSPath
		client, err := inClusterClient()
		if err != nil {
			return nil, "", err
		}
		cfg.HTTPClient = client
	}
	if cfg.JWKSURL != "" {
		cfg.CacheFile = f.jwksCacheFile
	}
	k, err := satoken.NewKeys(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("the cluster's signing keys: %w", err)
	}
	if cfg.JWKSFile != "" {
		return k, cfg.JWKSFile, nil
	}
	return k, cfg.JWKSURL, nil
}

// inClusterAPIServer is the API server's URL when the agent runs in a pod
// with its service-account token mounted, else "" and why not.
func inClusterAPIServer() (url, why string) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", "not in a cluster"
	}
	if _, err := os.Stat(inClusterTokenFile); err != nil {
		return "", "no service account token mounted; the chart mounts one"
	}
	return "https://" + net.JoinHostPort(host, port), ""
}

// inClusterClient calls the API server as the agent's service account:
// its CA, and its token read again whenever the kubelet rotates it.
func inClusterClient() (*http.Client, error) {
	return apiServerClient(inClusterCAFile, inClusterTokenFile)
}

// apiServerClient trusts the CA in caFile and sends the token in
// tokenFile with every request. It follows no redirect: the token is
// added by the transport, below the client's redirect handling, so a
// redirect (from a proxy, or an API server answering for another) would
// carry the agent's token to whichever host it names. The JWKS path is
// never redirected by a real API server.
func apiServerClient(caFile, tokenFile string) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the cluster's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the API server is in the cluster, never behind the node's proxy
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &bearerFile{path: tokenFile, next: tr},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// bearerFile adds the token in path to each request, re-reading the file
// when it changes: projected tokens are rotated by the kubelet.
type bearerFile struct {
	path string
	next http.RoundTripper

	mu      sync.Mutex
	token   string
	modTime time.Time
}

func (b *bearerFile) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.read()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(r)
}

func (b *bearerFile) read() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fi, err := os.Stat(b.path)
	if err == nil && b.token != "" && fi.ModTime().Equal(b.modTime) {
		return b.token, nil
	}
	data, err := os.ReadFile(b.path)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		if b.token != "" {
			return b.token, nil
		}
		return "", fmt.Errorf("the agent's service account token %s: %v", b.path, err)
	}
	b.token = strings.TrimSpace(string(data))
	if fi != nil {
		b.modTime = fi.ModTime()
	}
	return b.token, nil
}
