// Package authz decides who may call what, the way IAM does for the AWS
// APIs this server speaks: callers are principals with long-term access
// keys from the configuration, or role sessions this server minted; each
// is granted actions ("eks:CreatePodIdentityAssociation", "eks:*",
// "eks-auth:AssumeRoleForPodIdentity") on clusters, with IAM's wildcards.
// Anything not granted is denied with AWS's own message.
package authz

import (
	"context"
	"fmt"
	"path"
	"strings"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Principal is a caller with a long-term access key.
type Principal struct {
	ARN             string
	AccessKeyID     string
	SecretAccessKey string
	Grant           Grant
}

// Grant is what a principal may do: actions on clusters.
type Grant struct {
	Actions  []string // IAM action patterns, case-insensitive, * and ? wildcards
	Clusters []string // cluster name patterns; empty: none
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
			return "", nil, pi.Errorf(pi.CodeInvalidSessionToken, "The security token included in the request is invalid.")
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
// actions such as ListClusters; resourceARN names it in the denial.
func (p *Policy) Authorize(principal any, action, cluster, resourceARN string) error {
	var (
		arn    string
		grants []Grant
	)
	switch who := principal.(type) {
	case *Principal:
		arn, grants = who.ARN, []Grant{who.Grant}
	case *pi.SessionPrincipal:
		arn = who.AssumedRoleARN
		for _, r := range p.roles {
			if match(r.RoleARN, who.RoleARN) {
				grants = append(grants, r.Grant)
			}
		}
	default:
		return pi.Internal(fmt.Errorf("authz: unknown principal type %T", principal))
	}
	for _, g := range grants {
		if g.allows(action, cluster) {
			return nil
		}
	}
	if resourceARN == "" {
		resourceARN = "*"
	}
	return pi.Errorf(pi.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", arn, action, resourceARN)
}

func (g Grant) allows(action, cluster string) bool {
	if !matchAny(g.Actions, action) {
		return false
	}
	return cluster == "" || matchAny(g.Clusters, cluster)
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// match is IAM's wildcard matching: * any run of characters (including
// '/'), ? one character, case-insensitive as IAM compares actions.
func match(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	// path.Match stops '*' at '/'; ARNs contain slashes, so map them to a
	// character no pattern or name here contains first.
	const sep = "\x00"
	pattern = strings.ReplaceAll(strings.ReplaceAll(pattern, "[", "\\["), "/", sep)
	ok, err := path.Match(pattern, strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}
