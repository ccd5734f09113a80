package podidentity

import (
	"context"
	"time"
)

// TokenValidator checks a pod's projected service-account token for a
// cluster and says which pod it proves.
type TokenValidator interface {
	Validate(ctx context.Context, cluster, token string) (*PodIdentity, error)
}

// AssumeRoleInput is an AssumeRoleForPodIdentity request.
type AssumeRoleInput struct {
	ClusterName string
	Token       string
	// Reported by newer node agents; kept for the audit log only.
	NodeName   string
	InstanceID string
	Zone       string
}

// AssumeRoleOutput is what EKS Auth returns.
type AssumeRoleOutput struct {
	Namespace      string
	ServiceAccount string
	AssociationARN string
	AssociationID  string
	Credentials    IssuedCredentials
}

// CredentialDeps are what AssumeRoleForPodIdentity works with; the server
// assembles them from configuration.
type CredentialDeps struct {
	Validator TokenValidator
	Issuer    CredentialIssuer
	// SessionName names a pod's role session when its association asks
	// for no name of its own; session.DefaultName gives EKS's names.
	SessionName func(cluster, pod string) string
	// Auditor receives one record per issued credential; nil: none.
	Auditor Auditor
}

// CredentialPolicy says how long credentials live: for a single role, and
// for a chained target role (AWS caps chaining at one hour).
type CredentialPolicy struct {
	Duration        time.Duration
	ChainedDuration time.Duration
}

// Auditor records who got credentials for what.
type Auditor interface {
	Audit(ctx context.Context, rec AuditRecord)
}

// AuditRecord says who got credentials for what. It carries no secret: the
// access key id identifies the credentials without granting anything.
type AuditRecord struct {
	Pod            PodIdentity
	AssociationID  string
	RoleARN        string
	AssumedRoleARN string
	AccessKeyID    string
	Expiration     time.Time
	NodeName       string
	InstanceID     string
	Zone           string
}

// The session tags EKS attaches to every pod session (transitive, unless
// the association disables them).
const (
	TagClusterARN     = "eks-cluster-arn"
	TagClusterName    = "eks-cluster-name"
	TagNamespace      = "kubernetes-namespace"
	TagServiceAccount = "kubernetes-service-account"
	TagPodName        = "kubernetes-pod-name"
	TagPodUID         = "kubernetes-pod-uid"
)

// SessionTags are the tags EKS attaches to a pod's session.
func SessionTags(c *Cluster, p *PodIdentity) map[string]string {
	return map[string]string{
		TagClusterARN:     c.ARN,
		TagClusterName:    c.Name,
		TagNamespace:      p.Namespace,
		TagServiceAccount: p.ServiceAccount,
		TagPodName:        p.PodName,
		TagPodUID:         p.PodUID,
	}
}

// AssumeRoleForPodIdentity exchanges a pod's service-account token for
// credentials of its association's role, as EKS Auth does.
func (s *Service) AssumeRoleForPodIdentity(ctx context.Context, in AssumeRoleInput) (*AssumeRoleOutput, error) {
	if s.creds == nil {
		return nil, Internal(errNoCredentialPolicy)
	}
	cluster, err := s.Cluster(in.ClusterName)
	if err != nil {
		return nil, err
	}
	if in.Token == "" {
		return nil, Errorf(CodeInvalidParameter, "Missing required member token.")
	}
	pod, err := s.creds.Validator.Validate(ctx, cluster.Name, in.Token)
	if err != nil {
		return nil, err
	}
	r, err := s.resolve(ctx, cluster, AssociationKey{Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount})
	if err != nil {
		return nil, err
	}
	if r.shapeErr != nil {
		return nil, r.shapeErr
	}
	a := r.assoc
	req := &CredentialRequest{
		Cluster:     *cluster,
		Association: *a,
		Pod:         *pod,
		Duration:    s.credPolicy.Duration,
	}
	if r.shape.nameTemplate == "" {
		req.SessionName = s.creds.SessionName(cluster.Name, pod.PodName)
	}
	if a.TargetRoleARN != "" {
		req.Duration = s.credPolicy.ChainedDuration
	}
	if !a.DisableSessionTags {
		req.SessionTags = SessionTags(cluster, pod)
	}
	r.shape.apply(req, sessionVars{cluster: cluster.Name, namespace: pod.Namespace, serviceAccount: pod.ServiceAccount, podName: pod.PodName})
	creds, err := s.creds.Issuer.Issue(ctx, req)
	if err != nil {
		return nil, err
	}
	if s.creds.Auditor != nil {
		role := a.RoleARN
		if a.TargetRoleARN != "" {
			role = a.TargetRoleARN
		}
		s.creds.Auditor.Audit(ctx, AuditRecord{
			Pod: *pod, AssociationID: a.AssociationID, RoleARN: role, AssumedRoleARN: creds.AssumedRoleARN,
			AccessKeyID: creds.AccessKeyID, Expiration: creds.Expiration,
			NodeName: in.NodeName, InstanceID: in.InstanceID, Zone: in.Zone,
		})
	}
	return &AssumeRoleOutput{
		Namespace:      pod.Namespace,
		ServiceAccount: pod.ServiceAccount,
		AssociationARN: a.AssociationARN,
		AssociationID:  a.AssociationID,
		Credentials:    *creds,
	}, nil
}
