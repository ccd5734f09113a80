package satoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// Keys verifies tokens against one cluster's signing keys without knowing
// the cluster's issuer: it is for the node agent, which checks that a
// kubelet-rotated token really is its pod's before reusing the
// credentials EKS Auth gave for the pod's previous token, and compares the
// issuer itself with that of the token EKS Auth accepted. The signature and
// claim checks are the Validator's own.
type Keys struct {
	v *Validator
	c *cluster
}

// KeysConfig names where the keys are: exactly one of JWKSFile and JWKSURL.
type KeysConfig struct {
	// JWKSFile is a JWKS or PEM public keys, read again when it changes.
	JWKSFile string
	// JWKSURL is fetched with HTTPClient (which carries the API server's
	// CA and credentials), again when a token names an unknown key (at
	// most every MinRefreshInterval) and in the background when older
	// than 15 minutes.
	JWKSURL    string
	HTTPClient *http.Client
	// CacheFile, with JWKSURL, keeps the keys last fetched on disk: written
	// atomically after each fetch, read at start, so that tokens can be
	// verified while the URL cannot be reached, even after a restart.
	CacheFile          string
	MinRefreshInterval time.Duration
	Now                func() time.Time
	Logger             *slog.Logger
}

// NewKeys builds a Keys; a JWKS file must be readable now, a URL is
// fetched on first use.
func NewKeys(cfg KeysConfig) (*Keys, error) {
	v := &Validator{now: cfg.Now, skew: DefaultSkew, log: cfg.Logger, b64: base64.RawURLEncoding.Strict()}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	c := &cluster{name: "this cluster"}
	switch {
	case (cfg.JWKSFile == "") == (cfg.JWKSURL == ""):
		return nil, errors.New("exactly one of a JWKS file and a JWKS URL must be given")
	case cfg.JWKSFile != "":
		src, err := newFileSource(cfg.JWKSFile, v.now, v.log)
		if err != nil {
			return nil, err
		}
		c.keys = src
	default:
		if err := checkURL(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("JWKS URL: %w", err)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: fetchTimeout}
		}
		minRefresh := cfg.MinRefreshInterval
		if minRefresh <= 0 {
			minRefresh = DefaultMinRefreshInterval
		}
		rs := &remoteSource{cluster: c.name, jwksURL: cfg.JWKSURL, client: client, now: v.now,
			minRefresh: minRefresh, log: v.log.With("jwksURL", cfg.JWKSURL)}
		c.keys = rs
		if cfg.CacheFile != "" {
			c.keys = newPersistedSource(rs, cfg.CacheFile)
		}
	}
	return &Keys{v: v, c: c}, nil
}

// Verify checks token's signature against the keys and its claims as EKS
// Auth does (audience pods.eks.amazonaws.com, validity window, bound to a
// pod), everything but the issuer, which it returns for the caller to
// compare. Errors are *podidentity.Error: CodeUnavailable when the keys
// cannot be had, CodeInvalidToken or CodeExpiredToken for the token.
func (k *Keys) Verify(ctx context.Context, token string) (id *podidentity.PodIdentity, issuer string, err error) {
	if err := checkShape(token); err != nil {
		return nil, "", err
	}
	t, err := parseToken(k.v.b64, token)
	if err != nil {
		return nil, "", err
	}
	if _, err := k.v.checkSignature(ctx, k.c, t); err != nil {
		return nil, "", err
	}
	id, err = k.v.checkClaims("", &t.claims, k.v.now())
	if err != nil {
		return nil, "", err
	}
	return id, t.claims.Issuer, nil
}

// persistedSource is a remoteSource whose keys are kept in a file: read
// from it at start (as stale keys, fetched again on first use), written
// to it whenever a fetch brought a new set.
type persistedSource struct {
	*remoteSource
	path string

	mu       sync.Mutex
	written  *keySet
	warnedAt time.Time // when a failed write was last logged
}

// persistWarnEvery bounds the warnings about a cache file that cannot be
// written: every verification tries again, and one line a minute tells the
// operator as much as one per pod request would.
const persistWarnEvery = time.Minute

func newPersistedSource(rs *remoteSource, path string) *persistedSource {
	p := &persistedSource{remoteSource: rs, path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		rs.log.Warn("cannot read the keys kept on disk", "file", path, "err", err)
	default:
		ks, err := parseJWKS(data, rs.log)
		if err != nil {
			rs.log.Warn("the keys kept on disk do not parse; ignoring them", "file", path, "err", err)
			break
		}
		rs.keys.Store(ks) // fetchedAt stays 0: stale, so fetched again on first use
		p.written = ks
		rs.log.Info("loaded the keys kept on disk", "file", path, "keys", len(ks.keys))
	}
	return p
}

func (p *persistedSource) current(ctx context.Context) (*keySet, error) {
	ks, err := p.remoteSource.current(ctx)
	p.persist()
	return ks, err
}

func (p *persistedSource) refresh(ctx context.Context) (*keySet, error) {
	ks, err := p.remoteSource.refresh(ctx)
	p.persist()
	return ks, err
}

// persist writes the keys fetched last if they are not the ones on disk.
// A background fetch that finishes later is written on the next call.
func (p *persistedSource) persist() {
	ks := p.keys.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ks == nil || ks == p.written {
		return
	}
	if err := writeKeysFile(p.path, ks); err != nil {
		if now := p.now(); p.warnedAt.IsZero() || now.Sub(p.warnedAt) >= persistWarnEvery {
			p.warnedAt = now
			p.log.Warn("cannot keep the keys on disk (warned at most once a minute)", "file", p.path, "err", err)
		}
		return
	}
	p.written = ks
}

// writeKeysFile writes ks as a JWKS to a temporary file beside path and
// renames it over path, so that a reader (or a crash) never sees half a
// file.
func writeKeysFile(path string, ks *keySet) error {
	set := jose.JSONWebKeySet{}
	for _, k := range ks.keys {
		var pub any = k.rsa
		if k.ec != nil {
			pub = k.ec
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	data, err := json.Marshal(set)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
