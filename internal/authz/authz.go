// Package authz decides who may call what, the way IAM does for the AWS
// APIs this server speaks: callers are principals with long-term access
// keys from the configuration, or role sessions this server minted; each
// is granted actions ("eks:CreatePodIdentityAssociation", "eks:*",
// "eks-auth:AssumeRoleForPodIdentity") on clusters, with IAM's wildcards,
// and the roles it may pass to associations (iam:PassRole). Action names
// compare case-insensitively, cluster names and role ARNs exactly, as IAM
// compares ARNs. Anything not granted is denied with AWS's own message.
package authz

import (
	"context"
	"fmt"
	"slices"

	"github.com/podidentity/podidentity/internal/iamglob"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// Principal is a caller with a long-term access key.
type Principal struct {
	ARN             string
	AccessKeyID     string
	SecretAccessKey string
	Grant           Grant
}

// Grant is what a principal may do: actions on clusters, and which roles
// it may name in an association.
type Grant struct {
	Actions  []string // IAM action patterns, case-insensitive, * and ? wildcards
	Clusters []string // cluster name patterns, case-sensitive; empty: none
	// PassRoles are the role ARN patterns (case-sensitive) the caller may
	// name as an association's roleArn or targetRoleArn: IAM's
	// iam:PassRole. Without it, whoever may create an association could
	// hand any role in the account to a pod it controls.
	PassRoles []string
}

// RoleGrant gives the sessions of matching roles a grant. Role sessions
// minted by this server have no other permissions.
type RoleGrant struct {
	RoleARN string // pattern, * and ? wildcards
	Grant   Grant
}

// SessionLookup opens credentials this server minted.
type SessionLookup func(ctx context.Context, accessKeyID, sessionToken string) (string, *pi.SessionPrincipal, error)

// Policy authenticates and authorizes callers.
type Policy struct {
	principals map[string]*Principal // by access key id
	roles      []RoleGrant
	sessions   SessionLookup
}

// NewPolicy builds a policy. Access key ids must be unique.
func NewPolicy(principals []Principal, roles []RoleGrant, sessions SessionLookup) (*Policy, error) {
	p := &Policy{principals: make(map[string]*Principal, len(principals)), roles: roles, sessions: sessions}
	for i := range principals {
		pr := principals[i]
		if _, dup := p.principals[pr.AccessKeyID]; dup {
			return nil, fmt.Errorf("access key %s belongs to two principals", pr.AccessKeyID)
		}
		p.principals[pr.AccessKeyID] = &pr
	}
	return p, nil
}

// Lookup resolves the credentials a request was signed with, as the SigV4
// verifier asks: a session token means credentials this server minted,
// otherwise a configured principal. Unknown keys get an empty secret.
func (p *Policy) Lookup(ctx context.Context, accessKeyID, sessionToken string) (string, any, error) {
	if sessionToken != "" {
		if p.sessions == nil {
			return "", nil, sigv4.Errorf(sigv4.InvalidSessionToken, "The security token included in the request is invalid.")
		}
		secret, sp, err := p.sessions(ctx, accessKeyID, sessionToken)
		if err != nil {
			return "", nil, err
		}
		return secret, sp, nil
	}
	pr, ok := p.principals[accessKeyID]
	if !ok {
		return "", nil, nil
	}
	return pr.SecretAccessKey, pr, nil
}

// Authorize reports whether principal may perform action on the resource.
// cluster is the cluster the resource belongs to, "" for account-wide
// actions such as ListClusters; resourceARN names it in the denial and is
// what a session policy's Resource is matched against ("" means "*").
func (p *Policy) Authorize(principal any, action, cluster, resourceARN string) error {
	if resourceARN == "" {
		resourceARN = "*"
	}
	return p.decide(principal, action, resourceARN, func(g Grant) bool { return g.allows(action, cluster) })
}

// ActionPassRole is the IAM action of naming a role for others to assume.
const ActionPassRole = "iam:PassRole"

// AuthorizePassRole reports whether principal may name roleARN as an
// association's role or target role. A role outside every grant's
// PassRoles is denied as IAM denies iam:PassRole.
//
// PassRole must hold for the ARN as given and for the role it names:
// STS finds a role by account and name alone, ignoring the path, so
// "role/team-a-x/Admin" is assumed as role Admin (whatever its real
// path), yet matches the pattern "role/team-a-*" because '*' crosses '/'.
func (p *Policy) AuthorizePassRole(principal any, roleARN string) error {
	if err := p.authorizePassRole(principal, roleARN); err != nil {
		return err
	}
	if r, err := pi.ParseRoleARN("roleArn", roleARN); err == nil && r.Path != "/" {
		return p.authorizePassRole(principal, "arn:"+r.Partition+":iam::"+r.AccountID+":role/"+r.Name)
	}
	return nil
}

func (p *Policy) authorizePassRole(principal any, roleARN string) error {
	return p.decide(principal, ActionPassRole, clip(roleARN), func(g Grant) bool { return iamglob.MatchAny(g.PassRoles, roleARN) })
}

// decide applies IAM's order: an explicit Deny in the session policy, then
// the grants, then the session policy's Allow statements.
func (p *Policy) decide(principal any, action, resourceARN string, granted func(Grant) bool) error {
	arn, grants, err := p.grants(principal)
	if err != nil {
		return err
	}
	v := verdictAllow
	if sp, ok := principal.(*pi.SessionPrincipal); ok && sp.Policy != "" {
		v = sessionVerdict(sp.Policy, action, resourceARN)
	}
	if v == verdictExplicit {
		return pi.Errorf(pi.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s with an explicit deny in a session policy", arn, action, resourceARN)
	}
	if !slices.ContainsFunc(grants, granted) {
		return denied(arn, action, resourceARN)
	}
	if v == verdictNoAllow {
		return pi.Errorf(pi.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no session policy allows the %s action", arn, action, resourceARN, action)
	}
	return nil
}

// sessionVerdict evaluates a sealed session policy. The policy was checked
// to be JSON when the association was written; one that is not a policy
// IAM would read denies everything rather than nothing.
func sessionVerdict(doc, action, resourceARN string) verdict {
	sp, err := parseSessionPolicy(doc)
	if err != nil {
		return verdictExplicit
	}
	return sp.evaluate(action, resourceARN)
}

// grants returns who principal is and what it was granted.
func (p *Policy) grants(principal any) (arn string, grants []Grant, err error) {
	switch who := principal.(type) {
	case *Principal:
		return who.ARN, []Grant{who.Grant}, nil
	case *pi.SessionPrincipal:
		for _, r := range p.roles {
			if iamglob.Match(r.RoleARN, who.RoleARN) {
				grants = append(grants, r.Grant)
			}
		}
		return who.AssumedRoleARN, grants, nil
	}
	return "", nil, pi.Internal(fmt.Errorf("authz: unknown principal type %T", principal))
}

func denied(arn, action, resourceARN string) error {
	return pi.Errorf(pi.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", arn, action, resourceARN)
}

// clip bounds a client-supplied resource name echoed in a denial.
func clip(s string) string {
	const max = 2048 // the longest ARN IAM accepts
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func (g Grant) allows(action, cluster string) bool {
	if !iamglob.MatchAnyAction(g.Actions, action) {
		return false
	}
	return cluster == "" || iamglob.MatchAny(g.Clusters, cluster)
}
