package authz

import (
	"context"
	"slices"
	"strings"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

func TestPolicy(t *testing.T) {
	admin := Principal{ARN: "arn:aws:iam::111122223333:user/admin", AccessKeyID: "AKIAADMIN", SecretAccessKey: "s1",
		Grant: Grant{Actions: []string{"eks:*"}, Clusters: []string{"*"}}}
	node := Principal{ARN: "arn:aws:iam::111122223333:role/node", AccessKeyID: "AKIANODE", SecretAccessKey: "s2",
		Grant: Grant{Actions: []string{"eks-auth:AssumeRoleForPodIdentity"}, Clusters: []string{"prod-*"}}}
	session := &pi.SessionPrincipal{AccessKeyID: "ASIAX", SecretAccessKey: "s3", RoleARN: "arn:aws:iam::111122223333:role/ci/deployer",
		AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/deployer/eks-x"}
	sessions := func(_ context.Context, id, tok string) (string, *pi.SessionPrincipal, error) {
		if id == "ASIAX" && tok == "tok" {
			return "s3", session, nil
		}
		return "", nil, sigv4.Errorf(sigv4.InvalidSessionToken, "The security token included in the request is invalid.")
	}
	p, err := NewPolicy([]Principal{admin, node}, []RoleGrant{{RoleARN: "arn:aws:iam::111122223333:role/ci/*", Grant: Grant{Actions: []string{"eks:Describe*"}, Clusters: []string{"dev"}}}}, sessions)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s, who, err := p.Lookup(ctx, "AKIAADMIN", ""); s != "s1" || who.(*Principal).ARN != admin.ARN || err != nil {
		t.Errorf("lookup admin: %q %v %v", s, who, err)
	}
	if s, who, err := p.Lookup(ctx, "AKIAUNKNOWN", ""); s != "" || who != nil || err != nil {
		t.Errorf("unknown key: %q %v %v", s, who, err)
	}
	if _, _, err := p.Lookup(ctx, "AKIAADMIN", "forged"); sigv4.KindOf(err) != sigv4.InvalidSessionToken {
		t.Errorf("long-term key with a session token: %v", err)
	}
	if s, who, err := p.Lookup(ctx, "ASIAX", "tok"); s != "s3" || err != nil || who.(roleSession).SessionPrincipal != session {
		t.Errorf("session lookup: %q %v %v", s, who, err)
	}

	tests := []struct {
		who             Caller
		action, cluster string
		ok              bool
	}{
		{&admin, "eks:CreatePodIdentityAssociation", "demo", true},
		{&admin, "eks:ListClusters", "", true},
		{&admin, "eks-auth:AssumeRoleForPodIdentity", "demo", false},
		{&node, "eks-auth:AssumeRoleForPodIdentity", "prod-eu", true},
		{&node, "eks-auth:AssumeRoleForPodIdentity", "dev", false},
		{&node, "eks:ListPodIdentityAssociations", "prod-eu", false},
		{p.SessionCaller(session), "eks:DescribePodIdentityAssociation", "dev", true},
		{p.SessionCaller(session), "eks:DescribePodIdentityAssociation", "prod", false},
		{p.SessionCaller(session), "eks:DeletePodIdentityAssociation", "dev", false},
		{p.SessionCaller(&pi.SessionPrincipal{RoleARN: "arn:aws:iam::111122223333:role/other", AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/other/s"}), "eks:DescribeCluster", "dev", false},
	}
	for _, tc := range tests {
		err := p.Authorize(tc.who, tc.action, tc.cluster, "arn:aws:eks:us-west-2:111122223333:cluster/"+tc.cluster)
		if (err == nil) != tc.ok {
			t.Errorf("Authorize(%T, %s, %q) = %v, want ok=%v", tc.who, tc.action, tc.cluster, err, tc.ok)
		}
		if err != nil && (pi.ErrorCode(err) != pi.CodeAccessDenied || !strings.Contains(pi.ErrorMessage(err), "is not authorized to perform: "+tc.action+" on resource: arn:aws:eks:")) {
			t.Errorf("denial message: %v", err)
		}
	}
	if _, err := NewPolicy([]Principal{admin, admin}, nil, nil); err == nil {
		t.Error("duplicate access keys accepted")
	}
}

// Cluster names and role ARNs are resource names: IAM compares them
// exactly. Only the action may differ in case.
func TestResourceNamesAreCaseSensitive(t *testing.T) {
	tenant := Principal{ARN: "arn:aws:iam::111122223333:user/team-a", AccessKeyID: "AKIATEAMA",
		Grant: Grant{Actions: []string{"EKS:*PodIdentityAssociation*"}, Clusters: []string{"team-a", "team-b-*"}}}
	ci := &pi.SessionPrincipal{RoleARN: "arn:aws:iam::111122223333:role/CI-admin", AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/CI-admin/s"}
	p, err := NewPolicy([]Principal{tenant}, []RoleGrant{{RoleARN: "arn:aws:iam::111122223333:role/ci-*",
		Grant: Grant{Actions: []string{"eks:*"}, Clusters: []string{"*"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		who             Caller
		action, cluster string
		ok              bool
	}{
		{&tenant, "eks:CreatePodIdentityAssociation", "team-a", true},
		{&tenant, "eks:createpodidentityassociation", "team-a", true},
		{&tenant, "eks:CreatePodIdentityAssociation", "TEAM-A", false},
		{&tenant, "eks:CreatePodIdentityAssociation", "Team-A", false},
		{&tenant, "eks:ListPodIdentityAssociations", "team-b-eu", true},
		{&tenant, "eks:ListPodIdentityAssociations", "TEAM-B-eu", false},
		{p.SessionCaller(ci), "eks:DescribeCluster", "team-a", false}, // role/ci-* does not grant role/CI-admin
	}
	for _, tc := range tests {
		if err := p.Authorize(tc.who, tc.action, tc.cluster, "arn:aws:eks:us-west-2:111122223333:cluster/"+tc.cluster); (err == nil) != tc.ok {
			t.Errorf("Authorize(%T, %s, %q) = %v, want ok=%v", tc.who, tc.action, tc.cluster, err, tc.ok)
		}
	}
}

func TestPassRole(t *testing.T) {
	tenant := Principal{ARN: "arn:aws:iam::111122223333:user/team-a", AccessKeyID: "AKIATEAMA",
		Grant: Grant{Actions: []string{"eks:*"}, Clusters: []string{"team-a"},
			PassRoles: []string{"arn:aws:iam::111122223333:role/team-a-*", "arn:aws:iam::111122223333:role/teams/team-a-*", "arn:aws:iam::*:role/team-a-target-*"}}}
	none := Principal{ARN: "arn:aws:iam::111122223333:user/reader", AccessKeyID: "AKIAREADER",
		Grant: Grant{Actions: []string{"eks:List*"}, Clusters: []string{"*"}}}
	deployer := &pi.SessionPrincipal{RoleARN: "arn:aws:iam::111122223333:role/deployer", AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/deployer/s"}
	p, err := NewPolicy([]Principal{tenant, none}, []RoleGrant{{RoleARN: "arn:aws:iam::111122223333:role/deployer",
		Grant: Grant{Actions: []string{"eks:*"}, Clusters: []string{"*"}, PassRoles: []string{"arn:aws:iam::111122223333:role/app-?", "arn:aws:iam::111122223333:role/apps/*"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		who   Caller
		role  string
		ok    bool
		named string // the resource a denial names, when not role
	}{
		{&tenant, "arn:aws:iam::111122223333:role/team-a-app", true, ""},
		{&tenant, "arn:aws:iam::444455556666:role/team-a-target-s3", true, ""},
		{&tenant, "arn:aws:iam::111122223333:role/team-b-app", false, ""},
		{&tenant, "arn:aws:iam::111122223333:role/Admin", false, ""},
		{&tenant, "arn:aws:iam::111122223333:role/TEAM-A-app", false, ""},
		{&none, "arn:aws:iam::111122223333:role/team-a-app", false, ""},
		{p.SessionCaller(deployer), "arn:aws:iam::111122223333:role/app-1", true, ""},
		{p.SessionCaller(deployer), "arn:aws:iam::111122223333:role/app-10", false, ""},
		// STS assumes a role by account and name, whatever path the ARN
		// gives: a path that makes a pattern match ('*' crosses '/') must
		// not pass a role the patterns do not name. The denial names the
		// role STS would assume.
		{&tenant, "arn:aws:iam::111122223333:role/team-a-x/Admin", false, "arn:aws:iam::111122223333:role/Admin"},
		{&tenant, "arn:aws:iam::444455556666:role/team-a-target-x/Admin", false, "arn:aws:iam::444455556666:role/Admin"},
		{p.SessionCaller(deployer), "arn:aws:iam::111122223333:role/apps/Admin", false, "arn:aws:iam::111122223333:role/Admin"},
		{p.SessionCaller(deployer), "arn:aws:iam::111122223333:role/apps/app-1", true, ""},
		// Both forms must be passable, by one pattern or by two.
		{&tenant, "arn:aws:iam::111122223333:role/teams/team-a-app", true, ""},
		{&tenant, "arn:aws:iam::111122223333:role/other/team-a-app", false, ""},
	}
	for _, tc := range tests {
		err := p.AuthorizePassRole(tc.who, tc.role)
		if (err == nil) != tc.ok {
			t.Errorf("AuthorizePassRole(%T, %s) = %v, want ok=%v", tc.who, tc.role, err, tc.ok)
		}
		named := tc.role
		if tc.named != "" {
			named = tc.named
		}
		if err != nil && (pi.ErrorCode(err) != pi.CodeAccessDenied || !strings.HasSuffix(pi.ErrorMessage(err), " is not authorized to perform: iam:PassRole on resource: "+named)) {
			t.Errorf("denial: %v", err)
		}
	}
}

// federated is a kind of caller authz does not define, as a later
// feature might add: deciding must work from the Caller methods alone.
type federated struct {
	grants []Grant
	policy string
}

func (federated) Identity() (string, string, string) {
	return "arn:aws:sts::111122223333:federated-user/alice", "111122223333:alice", "111122223333"
}
func (f federated) Granted(match func(Grant) bool) bool { return slices.ContainsFunc(f.grants, match) }
func (f federated) SessionPolicy() string               { return f.policy }

func TestAnotherKindOfCaller(t *testing.T) {
	p, err := NewPolicy(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	who := federated{grants: []Grant{{Actions: []string{"eks:Describe*"}, Clusters: []string{"dev"}}}}
	const dev = "arn:aws:eks:us-west-2:111122223333:cluster/dev"
	if err := p.Authorize(who, "eks:DescribeCluster", "dev", dev); err != nil {
		t.Errorf("granted action denied: %v", err)
	}
	err = p.Authorize(who, "eks:DeleteCluster", "dev", dev)
	if want := "User: arn:aws:sts::111122223333:federated-user/alice is not authorized to perform: eks:DeleteCluster"; err == nil || !strings.Contains(pi.ErrorMessage(err), want) {
		t.Errorf("ungranted action: %v; want a denial naming the caller", err)
	}
	who.policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"eks:*","Resource":"*"}]}`
	if err := p.Authorize(who, "eks:DescribeCluster", "dev", dev); err == nil || !strings.Contains(pi.ErrorMessage(err), "explicit deny in a session policy") {
		t.Errorf("session policy of a new kind of caller ignored: %v", err)
	}
	if err := p.Authorize(nil, "eks:DescribeCluster", "dev", dev); pi.ErrorCode(err) != pi.CodeInternal {
		t.Errorf("no caller: %v, want an internal error", err)
	}
}

func TestAccountOf(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::111122223333:user/team-a":      "111122223333",
		"arn:aws:sts::111122223333:assumed-role/r/s": "111122223333",
		"arn:aws-cn:iam::444455556666:user/a:b":      "444455556666",
		"arn:aws:iam::111122223333":                  "",
		"arn:aws:iam:":                               "",
		"":                                           "",
		"arn:aws:s3:::bucket":                        "",
		"arn:aws:eks:us-west-2:111122223333:cluster/demo":      "111122223333",
		"arn:aws:iam::111122223333:role/path:with:colons/Name": "111122223333",
		"arn:aws:iam::111122223333:":                           "111122223333",
	} {
		if got := accountOf(arn); got != want {
			t.Errorf("accountOf(%q) = %q, want %q", arn, got, want)
		}
	}
}
