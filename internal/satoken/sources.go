package satoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// Remote key sets are fetched here rather than with go-oidc's RemoteKeySet,
// which would otherwise fit: it cannot rate-limit refetches on unknown key
// ids, it does not tell a network failure (our fault, retryable) from a bad
// token (the caller's fault), and it verifies the JWS itself, which would
// parse every token a second time (see jwt.go).

const (
	// fetchTimeout bounds one fetch of discovery document plus key set. It
	// runs detached from the request that triggered it, so a caller that
	// gives up does not cancel it for the others waiting on it.
	fetchTimeout = 10 * time.Second
	// maxKeysAge is how long fetched keys are used before they are fetched
	// again in the background, so that a key the cluster withdrew stops
	// being trusted even if no token ever names an unknown key.
	maxKeysAge = 15 * time.Minute
	// maxDocumentSize caps discovery documents and key sets.
	maxDocumentSize = 1 << 20
	// fileCheckInterval limits how often a JWKS file is stat'ed on the
	// request path. An unknown kid checks the file at once.
	fileCheckInterval = time.Second
)

// keySource yields a cluster's current keys.
type keySource interface {
	// current returns the keys to verify with now; an error only when
	// there are none (a *podidentity.Error, CodeUnavailable).
	current(ctx context.Context) (*keySet, error)
	// refresh is called when a token names a key current lacks. It looks
	// for new keys if its rate limit allows and returns the keys to use
	// (never nil after a successful current), with the error of the last
	// load when that failed, so the caller can tell "no such key" from
	// "could not look".
	refresh(ctx context.Context) (*keySet, error)
}

// staticSource is a set configured in memory.
type staticSource struct{ ks *keySet }

func (s staticSource) current(context.Context) (*keySet, error) { return s.ks, nil }
func (s staticSource) refresh(context.Context) (*keySet, error) { return s.ks, nil }

// fileSource is a JWKS or PEM file, read again when its modification time
// or size changes. A file that turns unreadable or invalid (say, caught
// half-written) leaves the previous keys in place.
type fileSource struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	keys      atomic.Pointer[keySet]
	lastCheck atomic.Int64 // unix nanoseconds of now()

	mu      sync.Mutex // serialises reloads
	modTime time.Time
	size    int64
}

func newFileSource(path string, now func() time.Time, log *slog.Logger) (*fileSource, error) {
	s := &fileSource{path: path, now: now, log: log.With("jwksFile", path)}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSource) current(context.Context) (*keySet, error) {
	now := s.now().UnixNano()
	if last := s.lastCheck.Load(); now-last >= int64(fileCheckInterval) && s.lastCheck.CompareAndSwap(last, now) {
		if _, err := s.reload(); err != nil {
			s.log.Warn("cannot reload the key file; keeping the keys loaded before", "err", err)
		}
	}
	return s.keys.Load(), nil
}

func (s *fileSource) refresh(context.Context) (*keySet, error) {
	s.lastCheck.Store(s.now().UnixNano())
	if _, err := s.reload(); err != nil {
		s.log.Warn("cannot reload the key file; keeping the keys loaded before", "err", err)
	}
	return s.keys.Load(), nil
}

// reload reads the file if it changed and reports whether it did.
func (s *fileSource) reload() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		return false, fmt.Errorf("key file: %w", err)
	}
	if s.keys.Load() != nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return false, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return false, fmt.Errorf("key file: %w", err)
	}
	ks, err := parseKeys(data, s.log)
	if err != nil {
		return false, fmt.Errorf("key file %s: %w", s.path, err)
	}
	s.keys.Store(ks)
	s.modTime, s.size = fi.ModTime(), fi.Size()
	s.log.Info("loaded keys", "keys", len(ks.keys))
	return true, nil
}

// remoteSource fetches keys from a JWKS URL, found directly or through
// OIDC discovery. Keys are fetched on first use, again in the background
// when older than maxKeysAge, and again on an unknown kid; all fetches,
// failed or not, are at least minRefresh apart, and concurrent requests
// share one fetch. Keys once fetched are kept when later fetches fail.
type remoteSource struct {
	cluster    string
	issuer     string
	jwksURL    string
	discovery  bool
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	log        *slog.Logger

	keys        atomic.Pointer[keySet]
	fetchedAt   atomic.Int64 // unix nanoseconds of the keys' fetch
	lastAttempt atomic.Int64 // unix nanoseconds; 0 = never
	group       singleflight.Group

	mu      sync.Mutex
	lastErr error // of the last attempt, nil when it succeeded
}

func (s *remoteSource) current(ctx context.Context) (*keySet, error) {
	if ks := s.keys.Load(); ks != nil {
		stale := s.now().UnixNano()-s.fetchedAt.Load() > int64(maxKeysAge)
		if stale && s.mayFetch() {
			// Revalidate in the background; the keys we have are still
			// good enough for this request.
			s.group.DoChan("fetch", s.fetchFunc(ctx))
		}
		return ks, nil
	}
	ks, err := s.fetch(ctx)
	switch {
	case ks != nil:
		return ks, nil
	case err != nil:
		return nil, err
	default:
		return nil, s.unavailable(errors.New("no keys fetched yet"))
	}
}

func (s *remoteSource) refresh(ctx context.Context) (*keySet, error) {
	return s.fetch(ctx)
}

func (s *remoteSource) mayFetch() bool {
	last := s.lastAttempt.Load()
	return last == 0 || s.now().UnixNano()-last >= int64(s.minRefresh)
}

// fetch joins or starts a fetch and waits for it, or for ctx.
func (s *remoteSource) fetch(ctx context.Context) (*keySet, error) {
	ch := s.group.DoChan("fetch", s.fetchFunc(ctx))
	select {
	case r := <-ch:
		ks, _ := r.Val.(*keySet)
		return ks, r.Err
	case <-ctx.Done():
		return s.keys.Load(), s.unavailable(fmt.Errorf("waiting for the keys: %w", ctx.Err()))
	}
}

// fetchFunc returns the shared fetch. Inside it the rate limit is checked
// again, so callers arriving just after a fetch get its result instead of
// starting another.
func (s *remoteSource) fetchFunc(ctx context.Context) func() (any, error) {
	return func() (any, error) {
		if !s.mayFetch() {
			s.mu.Lock()
			err := s.lastErr
			s.mu.Unlock()
			return s.keys.Load(), err
		}
		s.lastAttempt.Store(s.now().UnixNano())
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		ks, err := s.load(fctx)

		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.lastErr = s.unavailable(err)
			old := s.keys.Load()
			if old != nil {
				s.log.Warn("cannot refresh keys; keeping the keys fetched before", "err", err)
			} else {
				s.log.Error("cannot fetch keys", "err", err)
			}
			return old, s.lastErr
		}
		s.lastErr = nil
		s.fetchedAt.Store(s.now().UnixNano())
		s.keys.Store(ks)
		s.log.Info("fetched keys", "keys", len(ks.keys))
		return ks, nil
	}
}

func (s *remoteSource) load(ctx context.Context) (*keySet, error) {
	jwksURL := s.jwksURL
	if s.discovery {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, err
		}
		jwksURL = u
	}
	body, err := s.get(ctx, jwksURL)
	if err != nil {
		return nil, err
	}
	ks, err := parseJWKS(body, s.log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", jwksURL, err)
	}
	return ks, nil
}

// discover reads the issuer's OIDC discovery document. As OpenID Connect
// Discovery §4.3 requires, the document must name the very issuer we
// asked, so a misrouted URL cannot hand us someone else's keys.
func (s *remoteSource) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
	body, err := s.get(ctx, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%s: not a discovery document: %w", u, err)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("%s: the discovery document is for issuer %q, not %q", u, doc.Issuer, s.issuer)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("%s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

func (s *remoteSource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	// kube-apiserver serves its JWKS only as application/jwk-set+json and
	// answers 406 to a request that accepts only application/json (the type
	// of its discovery document).
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("%s: the response is larger than %d bytes", u, maxDocumentSize)
	}
	return body, nil
}

func (s *remoteSource) unavailable(err error) *podidentity.Error {
	return &podidentity.Error{
		Code:    podidentity.CodeUnavailable,
		Message: fmt.Sprintf("the signing keys of cluster %q cannot be fetched right now; retry the request", s.cluster),
		Err:     err,
	}
}
