package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
)

// Credentials are a pod's temporary AWS credentials.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	AccountID       string
	Expiration      time.Time
	// RoleARN and AssociationID are for logs.
	RoleARN       string
	AssociationID string
}

// Upstream exchanges a pod's service-account token for credentials: EKS
// Auth AssumeRoleForPodIdentity, on AWS or on a podidentity server. Errors
// it returns should be *UpstreamError so the agent can act on them.
type Upstream interface {
	AssumeRoleForPodIdentity(ctx context.Context, token string) (Credentials, error)
}

// UpstreamError is a failed exchange, as much of it as the agent acts on.
type UpstreamError struct {
	Status    int    // HTTP status EKS Auth answered; 0 when it did not answer
	Code      string // e.g. ThrottlingException; "" when there was no answer
	Message   string
	RequestID string
	Err       error
}

func (e *UpstreamError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("EKS Auth did not answer: %v", e.Err)
	}
	return fmt.Sprintf("EKS Auth answered %d %s: %s (request id %s)", e.Status, e.Code, e.Message, e.RequestID)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Irrecoverable errors say the token or its association is gone for good:
// cached credentials for the token are dropped (as the AWS agent does).
// An error about the node's own credentials says nothing about the pod's
// and is never irrecoverable: the AWS agent, which keys on the code alone,
// drops every pod's still-valid credentials when the node's session
// expires, though a rotated node session would fix it minutes later.
func (e *UpstreamError) irrecoverable() bool {
	if e.nodeCredentials() {
		return false
	}
	switch e.Code {
	case "ResourceNotFoundException", "ExpiredTokenException", "InvalidTokenException", "AccessDeniedException":
		return true
	}
	return false
}

// nodeCredentials reports whether EKS Auth refused the request's signature,
// that is the node's credentials, rather than the pod's token. EKS Auth
// answers a pod's expired token with 400 ExpiredTokenException ("The
// specified Kubernetes service account token is expired", its API model
// says); AWS's signature layer answers an expired node session with 403
// ExpiredTokenException ("The security token included in the request is
// expired"), and an unknown or mis-signed key with 403
// UnrecognizedClientException or InvalidSignatureException. 403 is never a
// verdict on the pod: EKS Auth's own errors are all 400, 404, 429 or 5xx.
func (e *UpstreamError) nodeCredentials() bool {
	switch {
	case e.Status == http.StatusForbidden:
		return true
	case e.Code == "ExpiredTokenException" && strings.Contains(strings.ToLower(e.Message), "security token included in the request"):
		return true
	}
	switch e.Code {
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
		return true
	}
	return false
}

func (e *UpstreamError) throttled() bool {
	return e.Status == http.StatusTooManyRequests || e.Code == "ThrottlingException"
}

// retryable errors may succeed if asked again: no answer, throttling, or a
// server-side failure.
func (e *UpstreamError) retryable() bool {
	return e.Status == 0 || e.throttled() || e.Status >= 500
}

// asUpstreamError is err as an *UpstreamError, or nil.
func asUpstreamError(err error) *UpstreamError {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// irrecoverable reports whether err means cached credentials must go.
func irrecoverable(err error) bool {
	ue := asUpstreamError(err)
	return ue != nil && ue.irrecoverable()
}

// EKSAuthConfig configures the EKS Auth client.
type EKSAuthConfig struct {
	// AWS holds the node's credentials and region (config.LoadDefaultConfig).
	AWS         aws.Config
	ClusterName string
	// Endpoint overrides the region's EKS Auth endpoint, e.g. a podidentity
	// server's URL.
	Endpoint string
	// DialTimeout bounds connecting (default 500ms, as the AWS agent).
	DialTimeout time.Duration
	// NodeName, InstanceID and Zone, when set, are sent as eksNodeName,
	// instanceId and zone, so the server's audit log says which node asked.
	NodeName   string
	InstanceID string
	Zone       string
	// Unsigned sends every call without a SigV4 signature: the sidecar
	// agent has no node credentials, and a podidentity server whose
	// cluster sets podTokenAuth authenticates the call by the pod's token
	// in it. AWS's EKS Auth refuses such calls.
	Unsigned bool
}

// NewEKSAuth is the Upstream of the real aws-sdk-go-v2 EKS Auth client,
// signed with the node's credentials (unless cfg.Unsigned). Retries are the agent's own (see
// retryPolicy): the SDK's retryer and its client-side retry quota are off.
func NewEKSAuth(cfg EKSAuthConfig) Upstream {
	dial := cfg.DialTimeout
	if dial <= 0 {
		dial = 500 * time.Millisecond
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   2 * time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	client := eksauth.NewFromConfig(cfg.AWS, func(o *eksauth.Options) {
		o.HTTPClient = &http.Client{Transport: transport}
		o.Retryer = aws.NopRetryer{}
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if cfg.Unsigned {
			o.Credentials = aws.AnonymousCredentials{}
			// EKS Auth's model offers SigV4 alone; without an anonymous
			// option the client refuses anonymous credentials.
			o.AuthSchemeResolver = anonymousAuth{}
		}
		if m := nodeMembers(cfg); len(m) > 0 {
			o.APIOptions = append(o.APIOptions, withBodyMembers(m))
		}
	})
	return &eksAuth{client: client, cluster: cfg.ClusterName}
}

// anonymousAuth resolves every EKS Auth operation to no authentication.
type anonymousAuth struct{}

func (anonymousAuth) ResolveAuthSchemes(context.Context, *eksauth.AuthResolverParameters) ([]*smithyauth.Option, error) {
	return []*smithyauth.Option{{SchemeID: smithyauth.SchemeIDAnonymous}}, nil
}

type eksAuth struct {
	client  *eksauth.Client
	cluster string
}

func (e *eksAuth) AssumeRoleForPodIdentity(ctx context.Context, token string) (Credentials, error) {
	out, err := e.client.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(e.cluster),
		Token:       aws.String(token),
	})
	if err != nil {
		return Credentials{}, classifySDKError(err)
	}
	c, u := out.Credentials, out.AssumedRoleUser
	if c == nil || u == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil ||
		c.Expiration == nil || u.Arn == nil {
		return Credentials{}, errors.New("EKS Auth answered without credentials or assumed role")
	}
	role, err := arn.Parse(*u.Arn)
	if err != nil {
		return Credentials{}, fmt.Errorf("EKS Auth answered an assumed role ARN that does not parse: %w", err)
	}
	creds := Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretAccessKey,
		SessionToken:    *c.SessionToken,
		AccountID:       role.AccountID,
		Expiration:      c.Expiration.UTC(),
		RoleARN:         *u.Arn,
	}
	if a := out.PodIdentityAssociation; a != nil && a.AssociationId != nil {
		creds.AssociationID = *a.AssociationId
	}
	return creds, nil
}

// classifySDKError turns an SDK error into an *UpstreamError.
func classifySDKError(err error) *UpstreamError {
	ue := &UpstreamError{Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		ue.Status = re.HTTPStatusCode()
		ue.RequestID = re.ServiceRequestID()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		ue.Code, ue.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	if ue.Status != 0 && ue.Message == "" {
		ue.Message = err.Error()
	}
	return ue
}
