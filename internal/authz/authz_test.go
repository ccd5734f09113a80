package authz

import (
	"context"
	"strings"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"eks:*", "eks:CreatePodIdentityAssociation", true},
		{"EKS:createpodidentityassociation", "eks:CreatePodIdentityAssociation", true},
		{"eks:List*", "eks:ListPodIdentityAssociations", true},
		{"eks:List*", "eks:DescribeCluster", false},
		{"eks:*", "eks-auth:AssumeRoleForPodIdentity", false},
		{"*", "sts:GetCallerIdentity", true},
		{"eks:Describe?luster", "eks:DescribeCluster", true},
		{"prod-*", "prod-eu", true},
		{"prod-*", "dev", false},
		{"arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:role/path/deep/name", true},
		{"arn:aws:iam::*:role/app", "arn:aws:iam::444455556666:role/app", true},
		{"arn:aws:iam::*:role/app", "arn:aws:iam::444455556666:role/app2", false},
		{"[a]", "a", false}, // brackets are literal in IAM
		{"[a]", "[a]", true},
	}
	for _, tc := range tests {
		if got := match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

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
		return "", nil, pi.Errorf(pi.CodeInvalidSessionToken, "The security token included in the request is invalid.")
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
	if _, _, err := p.Lookup(ctx, "AKIAADMIN", "forged"); pi.ErrorCode(err) != pi.CodeInvalidSessionToken {
		t.Errorf("long-term key with a session token: %v", err)
	}
	if s, who, err := p.Lookup(ctx, "ASIAX", "tok"); s != "s3" || who != session || err != nil {
		t.Errorf("session lookup: %q %v %v", s, who, err)
	}

	tests := []struct {
		who             any
		action, cluster string
		ok              bool
	}{
		{&admin, "eks:CreatePodIdentityAssociation", "demo", true},
		{&admin, "eks:ListClusters", "", true},
		{&admin, "eks-auth:AssumeRoleForPodIdentity", "demo", false},
		{&node, "eks-auth:AssumeRoleForPodIdentity", "prod-eu", true},
		{&node, "eks-auth:AssumeRoleForPodIdentity", "dev", false},
		{&node, "eks:ListPodIdentityAssociations", "prod-eu", false},
		{session, "eks:DescribePodIdentityAssociation", "dev", true},
		{session, "eks:DescribePodIdentityAssociation", "prod", false},
		{session, "eks:DeletePodIdentityAssociation", "dev", false},
		{&pi.SessionPrincipal{RoleARN: "arn:aws:iam::111122223333:role/other", AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/other/s"}, "eks:DescribeCluster", "dev", false},
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
