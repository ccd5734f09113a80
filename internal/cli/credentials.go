package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/credentials/session"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/preflight"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/server"
	"github.com/podidentity/podidentity/internal/sigv4"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// keyring builds the sealing keyring: the configured keys, or the one
// generated once and kept in the store.
func keyring(ctx context.Context, cfg *config.File, store pi.Store, log *slog.Logger) (*local.Keyring, error) {
	var keys []local.Key
	for _, k := range cfg.Credentials.SealingKeys {
		var (
			key local.Key
			err error
		)
		if k.KeyFile != "" {
			key, err = local.LoadKeyFile(k.ID, k.KeyFile)
		} else {
			key, err = local.ParseKey(k.ID, k.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("credentials.sealingKeys: %w", err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		// Only the local backend seals; others open what it sealed.
		return local.KeyringFromStore(ctx, store, cfg.Credentials.Backend == "local", log)
	}
	return local.NewKeyring(keys...)
}

// devCluster is the --dev server's demo cluster: a signing key generated at
// start stands in for its kube-apiserver.
type devCluster struct {
	name   string
	signer *tokenmint.Signer
}

func newDevCluster(c config.Cluster) (*devCluster, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s, err := tokenmint.NewSigner(key, c.Issuer)
	if err != nil {
		return nil, err
	}
	return &devCluster{name: c.Name, signer: s}, nil
}

// devMinter implements server.DevTokenMinter for dev clusters.
type devMinter struct {
	clusters map[string]*devCluster
	now      func() time.Time
}

func (m *devMinter) MintToken(_ context.Context, req server.DevTokenRequest) (string, error) {
	c, ok := m.clusters[req.Cluster]
	if !ok {
		return "", pi.Errorf(pi.CodeNotFound, "Cluster %s has no development signing key.", req.Cluster)
	}
	ttl, err := tokenmint.DevTTL(req.TTL)
	if err != nil {
		return "", pi.Errorf(pi.CodeInvalidParameter, "ttlSeconds must be between %d and %d.",
			int64(tokenmint.MinDevTTL/time.Second), int64(tokenmint.MaxDevTTL/time.Second))
	}
	pod := req.PodName
	if pod == "" {
		pod = req.ServiceAccount + "-dev"
	}
	var aud []string
	if req.Audience != "" {
		aud = []string{req.Audience}
	}
	tok, err := c.signer.Mint(tokenmint.Pod{Namespace: req.Namespace, ServiceAccount: req.ServiceAccount, PodName: pod, Audience: aud}, m.now(), ttl)
	if err != nil {
		return "", pi.Errorf(pi.CodeInvalidParameter, "%s", strings.TrimPrefix(err.Error(), "tokenmint: "))
	}
	return tok, nil
}

// credentialStack is everything AssumeRoleForPodIdentity and STS need.
type credentialStack struct {
	deps       *pi.CredentialDeps
	policy     pi.CredentialPolicy
	verifier   *sigv4.Verifier[authz.Caller]
	authz      *authz.Policy
	minter     *devMinter
	keysLoaded func(context.Context) error // every cluster's token keys, for /readyz
}

func newCredentialStack(ctx context.Context, cfg *config.File, dev bool, store pi.Store, log *slog.Logger) (*credentialStack, error) {
	ring, err := keyring(ctx, cfg, store, log)
	if err != nil {
		return nil, err
	}
	issuer, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: cfg.AccountID})
	if err != nil {
		return nil, err
	}
	// Pods get credentials from the configured backend; the local issuer
	// stays for verifying the credentials it minted.
	var backend pi.CredentialIssuer = issuer
	switch cfg.Credentials.Backend {
	case "local":
	case "sts":
		if backend, err = newSTSIssuer(ctx, cfg, log); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("credentials.backend %q is not supported", cfg.Credentials.Backend)
	}
	var (
		clusters []satoken.ClusterConfig
		minter   *devMinter
	)
	if dev {
		minter = &devMinter{clusters: map[string]*devCluster{}, now: time.Now}
	}
	for i, cc := range preflight.TokenClusters(cfg) {
		if dev {
			dc, err := newDevCluster(cfg.Clusters[i])
			if err != nil {
				return nil, err
			}
			minter.clusters[cc.Name] = dc
			cc.JWKSFile, cc.JWKSURL, cc.Discovery = "", "", false
			cc.StaticKeys = dc.signer.JWKS()
		}
		clusters = append(clusters, cc)
	}
	validator, err := satoken.New(clusters, satoken.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := validator.Prefetch(ctx); err != nil {
		// Remote key sets may come up after us; tokens are refused with a
		// retryable error until they do.
		log.Warn("could not fetch every cluster's keys at start; will retry on demand", "err", err)
	}
	deps := &pi.CredentialDeps{
		Validator:   validator,
		Issuer:      backend,
		SessionName: session.DefaultName,
		Auditor:     pi.LogAuditor{Log: log},
	}
	credPolicy := pi.CredentialPolicy{
		Duration:        cfg.Credentials.SessionDuration,
		ChainedDuration: cfg.Credentials.ChainedSessionDuration,
	}
	callers, err := principals(cfg)
	if err != nil {
		return nil, err
	}
	policy, err := authz.NewPolicy(callers, roleGrants(cfg), issuer.Lookup)
	if err != nil {
		return nil, err
	}
	verifier := &sigv4.Verifier[authz.Caller]{Regions: []string{cfg.Region}, Hosts: cfg.Hostnames, Lookup: policy.Lookup}
	if dev {
		verifier.InsecureAcceptUnknownKeys = devPrincipal(cfg)
	} else if len(callers) == 0 {
		log.Warn("no auth.principals are configured: every EKS and EKS Auth request will be refused")
	}
	return &credentialStack{deps: deps, policy: credPolicy, verifier: verifier, authz: policy, minter: minter, keysLoaded: validator.Prefetch}, nil
}
