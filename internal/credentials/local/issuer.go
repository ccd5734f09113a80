package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/credentials/session"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// Config configures an Issuer.
type Config struct {
	// Keyring seals new session tokens and opens presented ones. Every
	// replica that verifies credentials needs the same keys.
	Keyring *Keyring
	// AccountID, when set, is the only account whose roles may be an
	// association's RoleARN, as in EKS, where roleArn must be in the
	// cluster's account (a TargetRoleARN may be in any account). Empty: any
	// account, which suits an emulator serving made-up accounts.
	AccountID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of access keys, secrets and nonces; nil means
	// crypto/rand. Anything else is for tests: a predictable source makes
	// predictable secrets and repeats nonces. It must be safe for
	// concurrent use if Issue is called concurrently.
	Rand io.Reader
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Keyring == nil {
		errs = append(errs, errors.New("local credentials: Keyring is required"))
	}
	if c.AccountID != "" && !podidentity.ValidAccountID(c.AccountID) {
		errs = append(errs, fmt.Errorf("local credentials: AccountID %q is not 12 digits", c.AccountID))
	}
	return errors.Join(errs...)
}

// Issuer mints temporary credentials whose session token carries, sealed,
// everything needed to verify them later. It is safe for concurrent use.
type Issuer struct {
	keys    *Keyring
	account string
	now     func() time.Time
	rand    io.Reader
}

var _ podidentity.CredentialIssuer = (*Issuer)(nil)

// NewIssuer returns an Issuer for a valid cfg.
func NewIssuer(cfg Config) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	i := &Issuer{keys: cfg.Keyring, account: cfg.AccountID, now: cfg.Now, rand: cfg.Rand}
	if i.now == nil {
		i.now = time.Now
	}
	if i.rand == nil {
		i.rand = rand.Reader
	}
	return i, nil
}

// Issue mints credentials for the association's target role if it has one,
// else for its role, valid for req.Duration (rounded down to whole seconds)
// under session name req.SessionName with req.SessionTags and the
// association's policy. It refuses, with CodeInvalidParameter, what STS
// would refuse: bad session names, tags or policies and malformed role ARNs.
func (i *Issuer) Issue(_ context.Context, req *podidentity.CredentialRequest) (*podidentity.IssuedCredentials, error) {
	if req == nil {
		return nil, podidentity.Internal(errors.New("local credentials: nil request"))
	}
	p, err := i.principal(req)
	if err != nil {
		return nil, err
	}
	token, err := i.keys.sealPrincipal(p, i.rand)
	if errors.Is(err, errTokenTooLarge) {
		return nil, &podidentity.Error{
			Code:    podidentity.CodeInvalidParameter,
			Message: "The session tags and policy are too large to pack into a session token.",
			Err:     err,
		}
	}
	if err != nil {
		return nil, podidentity.Internal(err)
	}
	return &podidentity.IssuedCredentials{
		AccessKeyID:     p.AccessKeyID,
		SecretAccessKey: p.SecretAccessKey,
		SessionToken:    token,
		Expiration:      p.Expiration,
		AssumedRoleARN:  p.AssumedRoleARN,
		AssumedRoleID:   p.AssumedRoleID,
	}, nil
}

// principal checks req and builds the session it asks for, with fresh keys.
func (i *Issuer) principal(req *podidentity.CredentialRequest) (*podidentity.SessionPrincipal, error) {
	var errs []error
	if req.Duration < time.Second {
		errs = append(errs, fmt.Errorf("credential duration %s is shorter than one second", req.Duration))
	}
	if err := session.ValidateName(req.SessionName); err != nil {
		errs = append(errs, err)
	}
	if err := session.ValidateTags(req.SessionTags); err != nil {
		errs = append(errs, err)
	}
	if err := session.ValidatePolicy(req.Association.Policy); err != nil {
		errs = append(errs, err)
	}
	role, err := podidentity.ParseRoleARN(req.Association.RoleARN)
	if err != nil {
		errs = append(errs, fmt.Errorf("association role: %w", err))
	}
	target := role
	if req.Association.TargetRoleARN != "" {
		if target, err = podidentity.ParseRoleARN(req.Association.TargetRoleARN); err != nil {
			errs = append(errs, fmt.Errorf("association target role: %w", err))
		}
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		return nil, &podidentity.Error{Code: podidentity.CodeInvalidParameter, Message: err.Error(), Err: err}
	}
	if i.account != "" && role.Account != i.account {
		return nil, podidentity.Errorf(podidentity.CodeAccessDenied,
			"role %s is not in account %s, the only account this server issues credentials for", role, i.account)
	}

	var raw struct {
		key    [accessKeyRandBytes]byte
		secret [secretRandBytes]byte
	}
	if _, err := io.ReadFull(i.rand, raw.key[:]); err != nil {
		return nil, podidentity.Internal(fmt.Errorf("local credentials: reading randomness: %w", err))
	}
	if _, err := io.ReadFull(i.rand, raw.secret[:]); err != nil {
		return nil, podidentity.Internal(fmt.Errorf("local credentials: reading randomness: %w", err))
	}
	secret := formatSecret(&raw.secret)
	clear(raw.secret[:])
	roleARN := target.String()
	return &podidentity.SessionPrincipal{
		AccessKeyID:     formatAccessKey(&raw.key),
		SecretAccessKey: secret,
		AccountID:       target.Account,
		RoleARN:         roleARN,
		AssumedRoleARN:  target.AssumedRole(req.SessionName),
		AssumedRoleID:   assumedRoleID(roleARN, req.SessionName),
		SessionName:     req.SessionName,
		SessionTags:     req.SessionTags,
		Policy:          req.Association.Policy,
		Expiration:      i.now().Add(req.Duration).Truncate(time.Second).UTC(),
	}, nil
}

// Seal returns a session token carrying p, sealed with the keyring's first
// key. Issue calls it; it is exported for tools and tests that need a token
// for a principal of their own making.
func (i *Issuer) Seal(p *podidentity.SessionPrincipal) (string, error) {
	if p == nil {
		return "", errors.New("local credentials: sealing a nil principal")
	}
	return i.keys.sealPrincipal(p, i.rand)
}

// Open returns the principal a session token carries. A token that is
// malformed, altered, sealed with a key not in the keyring or too long
// fails with sigv4.InvalidSessionToken; one whose expiration has been
// reached fails with sigv4.ExpiredSessionToken, the errors a SigV4
// verifier passes through to the client.
func (i *Issuer) Open(token string) (*podidentity.SessionPrincipal, error) {
	p, err := i.keys.openPrincipal(token)
	if err != nil {
		return nil, err
	}
	if err := i.checkExpiry(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Lookup is what a SigV4 verifier asks of the credentials presented with a
// request: the secret to check the signature with, and who signed it. The
// token must open, must belong to accessKeyID, and must not have expired;
// a token moved to another access key is invalid, not merely mismatched.
func (i *Issuer) Lookup(_ context.Context, accessKeyID, sessionToken string) (string, *podidentity.SessionPrincipal, error) {
	if sessionToken == "" {
		return "", nil, invalidToken(fmt.Errorf("access key %s presented without a session token", accessKeyID))
	}
	p, err := i.keys.openPrincipal(sessionToken)
	if err != nil {
		return "", nil, err
	}
	if p.AccessKeyID != accessKeyID {
		return "", nil, invalidToken(fmt.Errorf("session token of access key %s presented with access key %s", p.AccessKeyID, accessKeyID))
	}
	if err := i.checkExpiry(p); err != nil {
		return "", nil, err
	}
	return p.SecretAccessKey, p, nil
}

// checkExpiry treats the expiration instant itself as expired: credentials
// are valid strictly before it, as the SDKs assume when they refresh.
func (i *Issuer) checkExpiry(p *podidentity.SessionPrincipal) error {
	if now := i.now(); !now.Before(p.Expiration) {
		return &sigv4.Error{
			Kind:    sigv4.ExpiredSessionToken,
			Message: msgExpiredToken,
			Err:     fmt.Errorf("session token of access key %s expired at %s", p.AccessKeyID, p.Expiration.Format(time.RFC3339)),
		}
	}
	return nil
}

// RoleID returns the IAM-style unique id this backend uses for a role:
// "AROA" and 17 characters of [A-Z2-7] from a SHA-256 of the ARN. With no
// IAM to ask, it must be a function of the ARN alone so that every replica,
// and every token, agrees on it. It is part of the token format (tokens
// derive assumed-role ids with it): changing it needs a new token version.
func RoleID(roleARN string) string {
	var b [roleIDLen]byte
	putRoleID(&b, roleARN)
	return string(b[:])
}

const (
	roleIDPrefix = "podidentity local role id\x00"
	roleIDLen    = len("AROA") + 17
)

func putRoleID(dst *[roleIDLen]byte, roleARN string) {
	// A stack buffer for the hash input: role ARNs are short.
	var in [256]byte
	sum := sha256.Sum256(append(append(in[:0], roleIDPrefix...), roleARN...))
	var enc [56]byte // base32 of 32 bytes
	base32.StdEncoding.Encode(enc[:], sum[:])
	copy(dst[:], "AROA")
	copy(dst[4:], enc[:17])
}

// assumedRoleID is RoleID(roleARN) + ":" + sessionName, in one allocation.
func assumedRoleID(roleARN, sessionName string) string {
	var id [roleIDLen]byte
	putRoleID(&id, roleARN)
	var b strings.Builder
	b.Grow(roleIDLen + 1 + len(sessionName))
	b.Write(id[:])
	b.WriteByte(':')
	b.WriteString(sessionName)
	return b.String()
}
