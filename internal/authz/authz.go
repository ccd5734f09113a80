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
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/podidentity/podidentity/internal/iamglob"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// Caller is an authenticated caller, what IAM calls the principal of a
// request. Each kind of caller (a principal with a long-term key, a role
// session this server minted, a pod presenting its token, ...) says who it
// is and what it was granted, so that deciding, logging and answering
// GetCallerIdentity need no list of kinds: a new kind implements Caller.
type Caller interface {
	// Identity is what STS GetCallerIdentity answers: the caller's ARN,
	// its unique id and its account. The ARN names it in denials and logs.
	Identity() (arn, userID, account string)
	// Granted reports whether one of the caller's grants satisfies
	// match, before any session policy. (A predicate, not a slice, so
	// that asking allocates nothing on the request path.)
	Granted(match func(Grant) bool) bool
	// SessionPolicy further limits a role session ("" when none): IAM
	// allows an action only if a grant and the session policy both do.
	SessionPolicy() string
}

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

var _ Caller = (*Principal)(nil)

func (p *Principal) Identity() (arn, userID, account string) {
	return p.ARN, p.AccessKeyID, accountOf(p.ARN)
}

func (p *Principal) Granted(match func(Grant) bool) bool { return match(p.Grant) }

func (p *Principal) SessionPolicy() string { return "" }

// roleSession is a role session this server minted, holding the grants of
// every role grant its role matches.
type roleSession struct {
	*pi.SessionPrincipal
	grants []Grant
}

func (s roleSession) Identity() (arn, userID, account string) {
	return s.AssumedRoleARN, s.AssumedRoleID, s.AccountID
}

func (s roleSession) Granted(match func(Grant) bool) bool {
	return slices.ContainsFunc(s.grants, match)
}

func (s roleSession) SessionPolicy() string { return s.Policy }

// SessionCaller is the caller of a role session this server minted: it may
// do what the role grants matching its role allow, within its session
// policy.
func (p *Policy) SessionCaller(sp *pi.SessionPrincipal) Caller {
	var grants []Grant
	for _, r := range p.roles {
		if iamglob.Match(r.RoleARN, sp.RoleARN) {
			grants = append(grants, r.Grant)
		}
	}
	return roleSession{SessionPrincipal: sp, grants: grants}
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
func (p *Policy) Lookup(ctx context.Context, accessKeyID, sessionToken string) (string, Caller, error) {
	if sessionToken != "" {
		if p.sessions == nil {
			return "", nil, sigv4.Errorf(sigv4.InvalidSessionToken, "The security token included in the request is invalid.")
		}
		secret, sp, err := p.sessions(ctx, accessKeyID, sessionToken)
		if err != nil {
			return "", nil, err
		}
		return secret, p.SessionCaller(sp), nil
	}
	pr, ok := p.principals[accessKeyID]
	if !ok {
		return "", nil, nil
	}
	return pr.SecretAccessKey, pr, nil
}

// Authorize reports whether caller may perform action on the resource.
// cluster is the cluster the resource belongs to, "" for account-wide
// actions such as ListClusters; resourceARN names it in the denial and is
// what a session policy's Resource is matched against ("" means "*").
func (p *Policy) Authorize(caller Caller, action, cluster, resourceARN string) error {
	if resourceARN == "" {
		resourceARN = "*"
	}
	return p.decide(caller, action, resourceARN, func(g Grant) bool { return g.allows(action, cluster) })
}

// ActionPassRole is the IAM action of naming a role for others to assume.
const ActionPassRole = "iam:PassRole"

// AuthorizePassRole reports whether caller may name roleARN as an
// association's role or target role. A role outside every grant's
// PassRoles is denied as IAM denies iam:PassRole.
//
// PassRole must hold for the ARN as given and for the role it names:
// STS finds a role by account and name alone, ignoring the path, so
// "role/team-a-x/Admin" is assumed as role Admin (whatever its real
// path), yet matches the pattern "role/team-a-*" because '*' crosses '/'.
func (p *Policy) AuthorizePassRole(caller Caller, roleARN string) error {
	if err := p.authorizePassRole(caller, roleARN); err != nil {
		return err
	}
	if r, err := pi.ParseRoleARN(roleARN); err == nil && r.Path != "/" {
		return p.authorizePassRole(caller, "arn:"+r.Partition+":iam::"+r.Account+":role/"+r.Name)
	}
	return nil
}

func (p *Policy) authorizePassRole(caller Caller, roleARN string) error {
	return p.decide(caller, ActionPassRole, clip(roleARN), func(g Grant) bool { return iamglob.MatchAny(g.PassRoles, roleARN) })
}

// decide applies IAM's order: an explicit Deny in the session policy, then
// the grants, then the session policy's Allow statements.
func (p *Policy) decide(caller Caller, action, resourceARN string, granted func(Grant) bool) error {
	if caller == nil {
		return pi.Internal(errors.New("authz: no caller to authorize"))
	}
	arn, _, _ := caller.Identity()
	v := verdictAllow
	if policy := caller.SessionPolicy(); policy != "" {
		v = sessionVerdict(policy, action, resourceARN)
	}
	if v == verdictExplicit {
		return pi.Errorf(pi.CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s with an explicit deny in a session policy", arn, action, resourceARN)
	}
	if !caller.Granted(granted) {
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

// accountOf is the account field of an ARN ("" when there is none). It
// slices rather than splits: Identity runs on every authorized request.
func accountOf(arn string) string {
	rest := arn
	for range 4 { // arn:partition:service:region:
		_, after, ok := strings.Cut(rest, ":")
		if !ok {
			return ""
		}
		rest = after
	}
	account, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return account
}
