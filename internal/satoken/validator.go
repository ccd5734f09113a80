package satoken

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/podidentity/podidentity/internal/podidentity"
)

const (
	// DefaultSkew is the clock skew tolerated on exp, nbf and iat. It is the
	// leeway the Kubernetes API server itself grants service-account tokens,
	// so a token the cluster would still accept is not refused here because
	// the two machines' clocks disagree by a few seconds; an expired token
	// gains at most one minute over its usual 24 hours.
	DefaultSkew = time.Minute

	// DefaultMinRefreshInterval limits how often a remote key set is fetched
	// again because a token named a key we do not know. Without a limit,
	// anyone could make the server hammer the cluster's JWKS endpoint by
	// sending tokens with made-up key ids; with it, a genuine key rotation is
	// noticed within seconds.
	DefaultMinRefreshInterval = 10 * time.Second

	// DefaultCacheSize is the number of verified tokens remembered. An entry
	// is a few hundred bytes; the server sees one token per pod, renewed by
	// the kubelet every ~19 hours, so ten thousand covers a large cluster.
	DefaultCacheSize = 10000

	// MaxTokenSize caps the token before any parsing. Real projected tokens
	// are 1-2 KiB; anything far larger is not a service-account token and
	// parsing it would only cost us CPU.
	MaxTokenSize = 16 << 10
)

// ClusterConfig says how to validate the tokens of one cluster. Exactly one
// of JWKSFile, JWKSURL, Discovery and StaticKeys names the cluster's keys.
type ClusterConfig struct {
	Name   string
	Issuer string // the tokens' iss, compared exactly

	// JWKSFile is a JSON Web Key Set (for example the output of
	// `kubectl get --raw /openid/v1/jwks`) or PEM public keys (the cluster's
	// service-account public key file). It is read again when it changes,
	// so keys can be rotated without a restart.
	JWKSFile string
	// JWKSURL is fetched over HTTP(S), cached, and fetched again when a
	// token names an unknown key.
	JWKSURL string
	// Discovery finds the JWKS URL through the issuer's OIDC discovery
	// document, {Issuer}/.well-known/openid-configuration.
	Discovery bool
	// StaticKeys are keys held in memory (the dev server generates one).
	StaticKeys *jose.JSONWebKeySet

	// CAFile is a PEM bundle trusted for the HTTPS JWKS and discovery
	// endpoints, and for TokenReview unless TokenReview names its own.
	// Empty means the system roots.
	CAFile string

	// TokenReview, when set, also asks the cluster about every token.
	TokenReview *TokenReviewConfig

	// MaxTokenLifetime, when positive, refuses tokens whose exp - iat is
	// longer (and tokens without iat): a stolen token is then worth at
	// most that long, whatever lifetime its pod asked for.
	MaxTokenLifetime time.Duration
}

// TokenReviewConfig points at a cluster's API server for TokenReview.
type TokenReviewConfig struct {
	APIServer string // https://host:port
	CAFile    string // PEM bundle for the API server; empty = the cluster's CAFile
	// TokenFile holds the bearer token the server authenticates with. It
	// is read again whenever it changes, because projected tokens rotate.
	TokenFile string
}

// Options are shared by every cluster of a Validator. The zero value is
// usable.
type Options struct {
	Now func() time.Time // nil = time.Now
	// Skew is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultSkew; a negative value means none.
	Skew time.Duration
	// HTTPClient fetches keys and calls TokenReview for clusters without a
	// CAFile. A cluster with a CAFile gets its own transport trusting
	// exactly that bundle, with HTTPClient's timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger // nil = discard
	// MinRefreshInterval limits refetching remote keys; zero means
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// CacheSize is the number of verified tokens remembered; zero means
	// DefaultCacheSize, negative disables the cache.
	CacheSize int
}

// Validator validates service-account tokens for a fixed set of clusters.
// It is safe for concurrent use.
type Validator struct {
	clusters map[string]*cluster
	now      func() time.Time
	skew     time.Duration
	log      *slog.Logger
	cache    *tokenCache // nil when disabled
	b64      *base64.Encoding

	// sigChecks counts signature verifications; tests use it to prove that
	// the cache spares them.
	sigChecks atomic.Int64
}

type cluster struct {
	name        string
	issuer      string
	keys        keySource
	review      *tokenReviewer // nil without TokenReview
	maxLifetime time.Duration  // 0: any
}

// New builds a Validator. It reads JWKS files and CA bundles now, so a
// broken configuration fails at start; remote key sets are fetched on first
// use (or by Prefetch), because the issuer may come up after the server.
// Every problem found is reported, not just the first.
func New(clusters []ClusterConfig, opts Options) (*Validator, error) {
	v := &Validator{
		clusters: make(map[string]*cluster, len(clusters)),
		now:      opts.Now,
		skew:     opts.Skew,
		log:      opts.Logger,
		b64:      base64.RawURLEncoding.Strict(),
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultSkew
	case v.skew < 0:
		v.skew = 0
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	minRefresh := opts.MinRefreshInterval
	if minRefresh <= 0 {
		minRefresh = DefaultMinRefreshInterval
	}
	switch {
	case opts.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		v.cache = newTokenCache(opts.CacheSize)
	}
	base := opts.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: fetchTimeout}
	}

	var errs []error
	for i, cc := range clusters {
		c, problems := v.newCluster(cc, base, minRefresh)
		if len(problems) > 0 {
			name := cc.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			for _, p := range problems {
				errs = append(errs, fmt.Errorf("cluster %s: %w", name, p))
			}
			continue
		}
		if _, dup := v.clusters[c.name]; dup {
			errs = append(errs, fmt.Errorf("cluster %s: declared twice", c.name))
			continue
		}
		v.clusters[c.name] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

// newCluster builds one cluster, or returns every problem with its
// configuration.
func (v *Validator) newCluster(cc ClusterConfig, base *http.Client, minRefresh time.Duration) (*cluster, []error) {
	var errs []error
	if cc.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if cc.Issuer == "" {
		errs = append(errs, errors.New("issuer is empty"))
	}
	sources := 0
	for _, set := range []bool{cc.JWKSFile != "", cc.JWKSURL != "", cc.Discovery, cc.StaticKeys != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = append(errs, fmt.Errorf("exactly one of jwksFile, jwksURL, discovery and static keys must be set, found %d", sources))
	}
	// Without a name, an issuer or one key source there is nothing more
	// to check. A CA bundle that does not load is one problem among the
	// others: the key file and TokenReview are still checked, so that
	// `server --check` reports them all at once.
	structural := len(errs) > 0
	client, caErr := clientFor(base, cc.CAFile)
	if caErr != nil {
		errs = append(errs, caErr)
	}
	if structural {
		return nil, errs
	}

	c := &cluster{name: cc.Name, issuer: cc.Issuer, maxLifetime: cc.MaxTokenLifetime}
	log := v.log.With("cluster", cc.Name)
	switch {
	case cc.StaticKeys != nil:
		ks, err := newKeySet(cc.StaticKeys.Keys, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("static keys: %w", err))
		} else {
			c.keys = staticSource{ks}
		}
	case cc.JWKSFile != "":
		src, err := newFileSource(cc.JWKSFile, v.now, log)
		if err != nil {
			errs = append(errs, err)
		} else {
			c.keys = src
		}
	default:
		rs := &remoteSource{
			cluster:    cc.Name,
			issuer:     cc.Issuer,
			jwksURL:    cc.JWKSURL,
			discovery:  cc.Discovery,
			client:     client,
			now:        v.now,
			minRefresh: minRefresh,
			log:        log,
		}
		where := cc.JWKSURL
		if cc.Discovery {
			where = cc.Issuer
		}
		if err := checkURL(where); err != nil {
			errs = append(errs, fmt.Errorf("key location: %w", err))
		} else if strings.HasPrefix(where, "http://") {
			log.Warn("keys are fetched over plain HTTP; anyone on the path can substitute them", "url", where)
		}
		c.keys = rs
	}

	if tr := cc.TokenReview; tr != nil {
		caFile := tr.CAFile
		if caFile == "" {
			caFile = cc.CAFile
		}
		r, err := newTokenReviewer(cc.Name, tr, caFile, base, log)
		if err != nil {
			for _, e := range unjoin(err) {
				if tr.CAFile == "" && caErr != nil && e.Error() == caErr.Error() {
					continue // the cluster's own CA bundle, reported above
				}
				errs = append(errs, fmt.Errorf("tokenReview: %w", e))
			}
		} else {
			c.review = r
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// unjoin splits an errors.Join, so that each problem gets its own prefix.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// clientFor returns base, or a copy of it whose TLS trusts exactly the
// bundle in caFile. A private bundle replaces the system roots rather than
// adding to them: a cluster's CA is the only authority that should vouch
// for its API server.
func clientFor(base *http.Client, caFile string) (*http.Client, error) {
	if caFile == "" {
		return base, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificates", caFile)
	}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("cannot apply CA bundle %s to an HTTP client with a %T transport", caFile, base.Transport)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.RootCAs = pool
	tr.TLSClientConfig = cfg
	c := *base
	c.Transport = tr
	return &c, nil
}

// Prefetch loads every remote key set now, so that the first pods are not
// kept waiting and a misconfigured issuer shows up in the logs at start. It
// returns the failures; the Validator keeps working (and retrying) anyway.
func (v *Validator) Prefetch(ctx context.Context) error {
	var errs []error
	for _, c := range v.clusters {
		if _, err := c.keys.current(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a pod's token for the named cluster and returns the
// identity it proves. Errors are *podidentity.Error: CodeNotFound for an
// unknown cluster, CodeInvalidParameter for something that is not a JWT,
// CodeInvalidToken and CodeExpiredToken for a token we refuse, and
// CodeUnavailable when keys or TokenReview cannot be reached. No message
// ever contains the token.
func (v *Validator) Validate(ctx context.Context, clusterName, token string) (*podidentity.PodIdentity, error) {
	c, ok := v.clusters[clusterName]
	if !ok {
		return nil, podidentity.Errorf(podidentity.CodeNotFound, "No cluster found for name: %s.", clip(clusterName, 100))
	}
	if err := checkShape(token); err != nil {
		return nil, err
	}
	now := v.now()

	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if e, ok := v.cache.get(key, c); ok {
			if id, hit, err := v.fromCache(ctx, c, key, e, token, now); hit {
				return id, err
			}
		}
	}

	id, thumb, err := v.verify(ctx, c, token, now)
	if err != nil {
		return nil, err
	}
	var reviewedUntil time.Time
	if c.review != nil {
		if err := c.review.review(ctx, token, id); err != nil {
			return nil, err
		}
		reviewedUntil = v.now().Add(tokenReviewTTL)
	}
	if v.cache != nil {
		v.cache.add(key, &cacheEntry{cluster: c, id: *id, thumb: thumb, reviewedUntil: reviewedUntil})
	}
	return id, nil
}

// fromCache answers from a cache entry; hit is false when the entry cannot
// be used and the token must be verified afresh.
func (v *Validator) fromCache(ctx context.Context, c *cluster, key [sha256.Size]byte, e cacheEntry, token string, now time.Time) (_ *podidentity.PodIdentity, hit bool, _ error) {
	if err := v.checkExpiry(e.id.TokenExpiry, now); err != nil {
		v.cache.remove(key)
		return nil, true, err
	}
	// A key the cluster has since withdrawn must stop vouching for tokens
	// it signed, even those we already verified.
	ks, err := c.keys.current(ctx)
	if err != nil || !ks.has(e.thumb) {
		v.cache.remove(key)
		return nil, false, nil
	}
	id := e.id
	if c.review != nil && now.After(e.reviewedUntil) {
		if err := c.review.review(ctx, token, &id); err != nil {
			return nil, true, err
		}
		v.cache.markReviewed(key, c, v.now().Add(tokenReviewTTL))
	}
	return &id, true, nil
}

// verify does the full check of a token not found in the cache and returns
// the identity and the thumbprint of the key that signed it.
func (v *Validator) verify(ctx context.Context, c *cluster, token string, now time.Time) (*podidentity.PodIdentity, string, error) {
	t, err := parseToken(v.b64, token)
	if err != nil {
		return nil, "", err
	}
	// The issuer is checked before the signature: it is the one mistake a
	// caller can fix from the message (wrong cluster name), and a token of
	// another cluster must not make us refetch this cluster's keys.
	if t.claims.Issuer != c.issuer {
		return nil, "", podidentity.Errorf(podidentity.CodeInvalidToken,
			"token issuer %q does not match the issuer of cluster %q", clip(t.claims.Issuer, 200), c.name)
	}
	thumb, err := v.checkSignature(ctx, c, t)
	if err != nil {
		return nil, "", err
	}
	id, err := v.checkClaims(c.name, &t.claims, now)
	if err != nil {
		return nil, "", err
	}
	if err := checkLifetime(c, &t.claims); err != nil {
		return nil, "", err
	}
	return id, thumb, nil
}

// checkLifetime enforces the cluster's maxTokenLifetime on a token whose
// claims checkClaims accepted (so exp is set).
func checkLifetime(c *cluster, cl *claims) error {
	if c.maxLifetime <= 0 {
		return nil
	}
	if cl.IssuedAt == nil {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"the token has no issue time (iat claim), so its lifetime cannot be checked against cluster %s's limit of %s", c.name, c.maxLifetime)
	}
	if lifetime := cl.Expiry.time().Sub(cl.IssuedAt.time()); lifetime > c.maxLifetime {
		return podidentity.Errorf(podidentity.CodeInvalidToken,
			"the token is valid for %s (exp - iat), longer than cluster %s allows (%s)", lifetime, c.name, c.maxLifetime)
	}
	return nil
}

func (v *Validator) checkSignature(ctx context.Context, c *cluster, t *parsedToken) (string, error) {
	ks, err := c.keys.current(ctx)
	if err != nil {
		return "", err
	}
	if !ks.anyCandidate(t.kid, t.alg) {
		// Perhaps the cluster rotated its key: look again, within the
		// source's rate limit.
		fresh, ferr := c.keys.refresh(ctx)
		if fresh != nil {
			ks = fresh
		}
		if !ks.anyCandidate(t.kid, t.alg) {
			if ferr != nil {
				return "", ferr
			}
			return "", podidentity.Errorf(podidentity.CodeInvalidToken,
				"the token is signed by a key (kid %q, %s) that is not among the keys of cluster %q", clip(t.kid, 100), t.alg, c.name)
		}
	}
	v.sigChecks.Add(1)
	if k := ks.verify(t); k != nil {
		return k.thumb, nil
	}
	return "", podidentity.Errorf(podidentity.CodeInvalidToken,
		"the token's signature does not verify with the keys of cluster %q", c.name)
}

func (v *Validator) checkExpiry(exp, now time.Time) error {
	if now.After(exp.Add(v.skew)) {
		return podidentity.Errorf(podidentity.CodeExpiredToken,
			"the service account token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	return nil
}

// clip shortens caller-supplied text before it goes into a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
