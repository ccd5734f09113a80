package awssts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"golang.org/x/sync/singleflight"

	"github.com/podidentity/podidentity/internal/credentials/session"
	"github.com/podidentity/podidentity/internal/podidentity"
)

// Defaults for Config's zero values. The node agent gives EKS Auth one
// second per call and retries three times, so the server's own retries of
// STS stay short: three attempts with at most 250 ms between them.
const (
	DefaultMaxAttempts    = 3
	DefaultMaxBackoff     = 250 * time.Millisecond
	DefaultAttemptTimeout = 3 * time.Second
	DefaultCallTimeout    = 10 * time.Second
	DefaultMaxEntries     = 20000
)

// roleMinimumMaxSession is the smallest MaxSessionDuration IAM lets a role
// have: a duration every role accepts.
const roleMinimumMaxSession = time.Hour

// Config configures an Issuer.
type Config struct {
	// AWS holds the server's own identity (Credentials), Region and HTTP
	// client, usually from config.LoadDefaultConfig: environment, shared
	// config and profiles, web identity, IMDS, process credentials.
	AWS aws.Config
	// Endpoint overrides the STS endpoint (a VPC endpoint, a FIPS endpoint,
	// an emulator); empty: the SDK's endpoint for AWS.Region.
	Endpoint string
	// MaxAttempts is how many times one AssumeRole call is tried, the first
	// included, when STS throttles or fails; MaxBackoff caps the wait between
	// attempts; AttemptTimeout bounds each attempt.
	MaxAttempts    int
	MaxBackoff     time.Duration
	AttemptTimeout time.Duration
	// CallTimeout bounds one whole exchange (both calls of a chain and
	// their retries). Exchanges run detached from the requests waiting for
	// them, so this is what ends an exchange nobody waits for any more.
	CallTimeout time.Duration
	// MaxEntries bounds the credential cache; negative disables it.
	MaxEntries int
	// Logger receives STS refusals and notable events; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.AWS.Region == "" {
		errs = append(errs, errors.New("sts credentials: no AWS region (set credentials.region or AWS_REGION)"))
	}
	if c.AWS.Credentials == nil {
		errs = append(errs, errors.New("sts credentials: no AWS credentials provider for the server's own identity"))
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("sts credentials: endpoint %q is not an http(s) URL", c.Endpoint))
		}
	}
	if c.MaxAttempts < 0 || c.MaxBackoff < 0 || c.AttemptTimeout < 0 || c.CallTimeout < 0 {
		errs = append(errs, errors.New("sts credentials: negative attempts, backoff or timeout"))
	}
	return errors.Join(errs...)
}

// Issuer exchanges pod identities for AWS credentials from STS. It is safe
// for concurrent use.
type Issuer struct {
	client      *sts.Client
	log         *slog.Logger
	now         func() time.Time
	callTimeout time.Duration
	cache       *cache
	flights     singleflight.Group
	caps        durationCaps
}

// durationCaps remembers the roles for which STS refused more than one
// hour, so that their next pods ask for one hour at once instead of
// failing first. A cap lasts capFor: a role whose maximum session duration
// has since been raised gets the configured duration again.
type durationCaps struct {
	mu    sync.Mutex
	until map[string]time.Time
}

const capFor = time.Hour

func (c *durationCaps) capped(role string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.until[role])
}

// capRole caps role and reports whether it was not capped already.
func (c *durationCaps) capRole(role string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !now.Before(c.until[role])
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	for r, t := range c.until {
		if !now.Before(t) {
			delete(c.until, r)
		}
	}
	c.until[role] = now.Add(capFor)
	return fresh
}

var _ podidentity.CredentialIssuer = (*Issuer)(nil)

// NewIssuer returns an Issuer for a valid cfg. It does not contact AWS.
func NewIssuer(cfg Config) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	attempts := cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	backoff := cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	attemptTimeout := cmp.Or(cfg.AttemptTimeout, DefaultAttemptTimeout)
	client := sts.NewFromConfig(cfg.AWS, func(o *sts.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		// Our bounds, not AWS_MAX_ATTEMPTS or AWS_RETRY_MODE: the node
		// agent's one-second budget is what they are sized for.
		o.RetryMaxAttempts = 0
		o.RetryMode = ""
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.MaxBackoff = backoff
		})
		if b, ok := o.HTTPClient.(*awshttp.BuildableClient); ok || o.HTTPClient == nil {
			if b == nil {
				b = awshttp.NewBuildableClient()
			}
			o.HTTPClient = b.WithTimeout(attemptTimeout)
		}
	})
	i := &Issuer{
		client:      client,
		log:         cfg.Logger,
		now:         cfg.Now,
		callTimeout: cmp.Or(cfg.CallTimeout, DefaultCallTimeout),
		cache:       newCache(cmp.Or(cfg.MaxEntries, DefaultMaxEntries)),
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// Issue returns credentials for the association's target role if it has
// one, else for its role: cached ones while they are in the first half of
// their lifetime, else fresh ones from STS. Requests STS would refuse for
// their form (session name, tags, policy size, role ARNs) fail with
// CodeInvalidParameter before any call.
func (i *Issuer) Issue(ctx context.Context, req *podidentity.CredentialRequest) (*podidentity.IssuedCredentials, error) {
	if req == nil {
		return nil, podidentity.Internal(errors.New("sts credentials: nil request"))
	}
	if err := check(req); err != nil {
		return nil, err
	}
	key := keyOf(req)
	if c, ok := i.cache.get(key, i.now()); ok {
		return &c, nil
	}
	// Waiters share one exchange. It does not inherit their cancellation:
	// if the first caller gives up, the credentials still land in the cache
	// for its retry and for everyone else waiting.
	ch := i.flights.DoChan(string(key[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.callTimeout)
		defer cancel()
		if c, ok := i.cache.get(key, i.now()); ok {
			return c, nil
		}
		start := i.now()
		c, err := i.exchange(fctx, req)
		if err != nil {
			return nil, err
		}
		i.cache.put(key, c, start)
		return *c, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		c := res.Val.(podidentity.IssuedCredentials)
		return &c, nil
	case <-ctx.Done():
		return nil, &podidentity.Error{Code: podidentity.CodeUnavailable,
			Message: "The request ended before AWS STS answered; retry the request.", Err: ctx.Err()}
	}
}

// check refuses what STS would refuse for its form.
func check(req *podidentity.CredentialRequest) error {
	var errs []error
	if err := session.ValidateName(req.SessionName); err != nil {
		errs = append(errs, err)
	}
	if err := session.ValidateTags(req.SessionTags); err != nil {
		errs = append(errs, err)
	}
	if err := session.ValidatePolicy(req.Association.Policy); err != nil {
		errs = append(errs, err)
	}
	if _, err := podidentity.ParseRoleARN(req.Association.RoleARN); err != nil {
		errs = append(errs, fmt.Errorf("association role: %w", err))
	}
	if t := req.Association.TargetRoleARN; t != "" {
		if _, err := podidentity.ParseRoleARN(t); err != nil {
			errs = append(errs, fmt.Errorf("association target role: %w", err))
		}
	}
	if s := req.Duration / time.Second; s < 1 || s > 1<<31-1 {
		errs = append(errs, fmt.Errorf("credential duration %s is out of range", req.Duration))
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		return &podidentity.Error{Code: podidentity.CodeInvalidParameter, Message: err.Error(), Err: err}
	}
	return nil
}

// exchange makes the STS calls for req: AssumeRole on the association's
// role and, with a target role, AssumeRole on it with the first
// credentials.
func (i *Issuer) exchange(ctx context.Context, req *podidentity.CredentialRequest) (*podidentity.IssuedCredentials, error) {
	a := &req.Association
	first := &sts.AssumeRoleInput{
		RoleArn:         aws.String(a.RoleARN),
		RoleSessionName: aws.String(req.SessionName),
		DurationSeconds: aws.Int32(int32(req.Duration / time.Second)),
	}
	first.Tags, first.TransitiveTagKeys = Tags(req.SessionTags)
	if req.TransitiveTagKeys != nil {
		first.TransitiveTagKeys = req.TransitiveTagKeys
	}
	if a.TargetRoleARN == "" && a.Policy != "" {
		first.Policy = aws.String(a.Policy)
	}
	long := req.Duration > roleMinimumMaxSession
	if long && i.caps.capped(a.RoleARN, i.now()) {
		first.DurationSeconds = aws.Int32(int32(roleMinimumMaxSession / time.Second))
	}
	h1 := hop{role: a.RoleARN, tags: req.SessionTags != nil}
	out, err := i.assume(ctx, h1, first, nil)
	if err != nil && long && isDurationTooLong(err) {
		// STS allows less than we asked for. One hour is what every role
		// and every chain allows: the pod gets working credentials, the
		// next pods of this role ask for one hour directly, and the
		// operator learns how to get the configured duration.
		if i.caps.capRole(a.RoleARN, i.now()) {
			i.log.Warn("AWS STS refused the configured credential duration for this role; issuing 1h credentials for it. "+
				"Raise the role's maximum session duration, or, if the server's own identity is a role session, accept 1h (AWS's limit for role chaining)",
				"role_arn", a.RoleARN, "requested", req.Duration.String(), "err", err)
		}
		first.DurationSeconds = aws.Int32(int32(roleMinimumMaxSession / time.Second))
		out, err = i.assume(ctx, h1, first, nil)
	}
	if err != nil {
		return nil, i.refused(h1, err)
	}
	if a.TargetRoleARN == "" {
		return issued(out)
	}
	// The transitive tags of the first session follow into the second by
	// themselves; sending them again would make STS refuse the call. The
	// others (custom tags not marked transitive) are sent again, so that
	// the target role's session, the one the pod gets, has every tag.
	second := &sts.AssumeRoleInput{
		RoleArn:         aws.String(a.TargetRoleARN),
		RoleSessionName: aws.String(req.SessionName),
		DurationSeconds: first.DurationSeconds,
		Tags:            nonTransitive(first.Tags, first.TransitiveTagKeys),
	}
	if a.ExternalID != "" {
		second.ExternalId = aws.String(a.ExternalID)
	}
	if a.Policy != "" {
		second.Policy = aws.String(a.Policy)
	}
	c := out.Credentials
	h2 := hop{role: a.TargetRoleARN, via: a.RoleARN, externalID: a.ExternalID, tags: req.SessionTags != nil}
	out, err = i.assume(ctx, h2, second, credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	if err != nil {
		return nil, i.refused(h2, err)
	}
	return issued(out)
}

// assume calls AssumeRole, signed with creds when given, else with the
// server's own identity, and checks that the answer has what a pod needs.
func (i *Issuer) assume(ctx context.Context, h hop, in *sts.AssumeRoleInput, creds aws.CredentialsProvider) (*sts.AssumeRoleOutput, error) {
	var opts []func(*sts.Options)
	if creds != nil {
		opts = append(opts, func(o *sts.Options) { o.Credentials = creds })
	}
	out, err := i.client.AssumeRole(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	if c := out.Credentials; c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil ||
		out.AssumedRoleUser == nil || out.AssumedRoleUser.Arn == nil || out.AssumedRoleUser.AssumedRoleId == nil {
		return nil, &podidentity.Error{Code: podidentity.CodeUnavailable,
			Message: "AWS STS answered without credentials; retry the request.",
			Err:     fmt.Errorf("AssumeRole on %s: the answer lacks credentials or the assumed-role user", h)}
	}
	return out, nil
}

// refused maps an STS failure and logs it: the server's request log records
// only the error code of client errors, and the operator needs STS's words
// and request id to fix a trust policy.
func (i *Issuer) refused(h hop, err error) error {
	var e *podidentity.Error
	if !errors.As(err, &e) {
		e = mapError(h, err)
	}
	switch e.Code {
	case podidentity.CodeUnavailable:
		// The server logs these itself, with the cause.
	default:
		// code is STS's own error code, as its client would see it;
		// fields with nothing to say are left out.
		attrs := []any{"role_arn", h.role}
		if h.via != "" {
			attrs = append(attrs, "via_role_arn", h.via)
		}
		if c := apiCode(err); c != "" {
			attrs = append(attrs, "code", c)
		}
		i.log.Warn("AWS STS refused AssumeRole", append(attrs, "err", err)...)
	}
	return e
}

func issued(out *sts.AssumeRoleOutput) (*podidentity.IssuedCredentials, error) {
	c, u := out.Credentials, out.AssumedRoleUser
	return &podidentity.IssuedCredentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      c.Expiration.UTC(),
		AssumedRoleARN:  aws.ToString(u.Arn),
		AssumedRoleID:   aws.ToString(u.AssumedRoleId),
	}, nil
}

// Tags turns EKS session tags into STS's form: tags sorted by key, every
// one of them transitive, as EKS Pod Identity sets them. Nil tags (an
// association with session tags disabled) give nil.
func Tags(tags map[string]string) ([]types.Tag, []string) {
	if tags == nil {
		return nil, nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]types.Tag, len(keys))
	for j, k := range keys {
		out[j] = types.Tag{Key: aws.String(k), Value: aws.String(tags[k])}
	}
	return out, keys
}

// nonTransitive returns the tags whose keys are not in transitive (sorted).
func nonTransitive(tags []types.Tag, transitive []string) []types.Tag {
	var out []types.Tag
	for _, t := range tags {
		if _, found := slices.BinarySearch(transitive, aws.ToString(t.Key)); !found {
			out = append(out, t)
		}
	}
	return out
}

// Identity returns the ARN of the server's own AWS identity, as STS
// GetCallerIdentity reports it.
func (i *Issuer) Identity(ctx context.Context) (string, error) {
	out, err := i.client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}
