package podidentity

import (
	"context"
	"time"
)

// Audience is the audience of every pod identity token and response.
const Audience = "pods.eks.amazonaws.com"

// PodIdentity is what a validated service-account token proves: which pod,
// running as which service account, in which cluster.
type PodIdentity struct {
	Cluster           string
	Namespace         string
	ServiceAccount    string
	ServiceAccountUID string
	PodName           string
	PodUID            string
	Subject           string // the token's sub claim
	TokenExpiry       time.Time
}

// CredentialRequest asks a credential backend for credentials of the
// association's role (or its target role) on behalf of a pod.
type CredentialRequest struct {
	Cluster     Cluster
	Association Association
	Pod         PodIdentity
	SessionName string
	// StableSessionName is true when SessionName comes from the
	// association's session-name template rather than EKS's per-request
	// eks-<cluster>-<pod>-<uuid>: it then shapes the session, and caches
	// must key on it.
	StableSessionName bool
	// SessionTags are the EKS session tags and the association's custom
	// ones, nil when the association disables them.
	SessionTags map[string]string
	// TransitiveTagKeys are the keys of SessionTags STS should mark
	// transitive, sorted. nil: all of them, as EKS marks its six tags.
	TransitiveTagKeys []string
	// Duration is how long the credentials should live.
	Duration time.Duration
}

// IssuedCredentials are temporary AWS credentials with the identity they
// authenticate as.
type IssuedCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	// AssumedRoleARN is arn:aws:sts::{account}:assumed-role/{role}/{session}.
	AssumedRoleARN string
	// AssumedRoleID is {roleId}:{sessionName}.
	AssumedRoleID string
}

// CredentialIssuer turns a validated pod identity and its association into
// AWS credentials. Backends: local minting and AWS STS.
type CredentialIssuer interface {
	Issue(ctx context.Context, req *CredentialRequest) (*IssuedCredentials, error)
}

// SessionPrincipal is the identity behind temporary credentials this server
// minted, recovered from their session token.
type SessionPrincipal struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string
	RoleARN         string // the role whose credentials these are
	AssumedRoleARN  string
	AssumedRoleID   string
	SessionName     string
	SessionTags     map[string]string
	Policy          string
	SourceIdentity  string
	Expiration      time.Time
}
