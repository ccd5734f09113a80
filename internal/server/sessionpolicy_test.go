package server

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/credentials/local"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

const deployerRole = "arn:aws:iam::111122223333:role/deployer"

// A session minted for an association with a policy is held to it on this
// server's own APIs, as IAM holds a role session to its session policy:
// the role's grant (eks:* everywhere) and the policy must both allow, and
// the policy's explicit Deny wins.
func TestSessionPolicyLimitsMintedSessions(t *testing.T) {
	key, err := local.GenerateKey("k1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := local.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: testAccount})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := authz.NewPolicy(testPrincipals, []authz.RoleGrant{{RoleARN: deployerRole,
		Grant: authz.Grant{Actions: []string{"eks:*"}, Clusters: []string{"*"}, PassRoles: []string{"*"}}}}, issuer.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvAuth(t, &sigv4.Verifier[authz.Caller]{Lookup: policy.Lookup, Regions: []string{"us-west-2"}}, policy)
	a := create(t, e, "ns", "sa")
	otherA, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("other"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole)})
	if err != nil {
		t.Fatal(err)
	}

	session := func(policy string) *eks.Client {
		t.Helper()
		c, err := issuer.Issue(ctx, &pi.CredentialRequest{
			Association: pi.Association{ClusterName: "demo", RoleARN: deployerRole, Policy: policy, DisableSessionTags: true},
			Pod:         pi.PodIdentity{Cluster: "demo", Namespace: "ci", ServiceAccount: "deployer", PodName: "deploy-0"},
			SessionName: "eks-demo-deploy-0", Duration: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(e.url), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)})
	}
	const who = "arn:aws:sts::111122223333:assumed-role/deployer/eks-demo-deploy-0"
	limited := session(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["eks:Describe*", "eks:List*", "eks:CreatePodIdentityAssociation", "iam:PassRole"],
		 "Resource": ["arn:aws:eks:us-west-2:111122223333:cluster/demo", "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/*", "arn:aws:iam::111122223333:role/app"]},
		{"Effect": "Deny", "NotAction": "eks:Describe*", "Resource": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/*"}]}`)
	demoARN := "arn:aws:eks:us-west-2:111122223333:cluster/demo"
	otherARN := "arn:aws:eks:us-west-2:111122223333:cluster/other"

	// Allowed by both.
	if _, err := limited.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")}); err != nil {
		t.Errorf("DescribeCluster demo: %v", err)
	}
	if _, err := limited.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId}); err != nil {
		t.Errorf("DescribePodIdentityAssociation demo: %v", err)
	}
	if _, err := limited.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ci"), ServiceAccount: aws.String("app"), RoleArn: aws.String(testRole)}); err != nil {
		t.Errorf("CreatePodIdentityAssociation demo: %v", err)
	}
	// Granted by the role, not allowed by the policy: its Resource.
	_, err = limited.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("other")})
	wantDenied(t, err, who, "eks:DescribeCluster", otherARN+" because no session policy allows the eks:DescribeCluster action")
	// ...its Action.
	_, err = limited.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(demoARN), Tags: map[string]string{"a": "b"}})
	wantDenied(t, err, who, "eks:TagResource", demoARN+" because no session policy allows the eks:TagResource action")
	// ...iam:PassRole on a role it does not list.
	_, err = limited.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ci"), ServiceAccount: aws.String("admin"), RoleArn: aws.String("arn:aws:iam::111122223333:role/Admin")})
	wantDenied(t, err, who, "iam:PassRole", "arn:aws:iam::111122223333:role/Admin because no session policy allows the iam:PassRole action")
	// An explicit Deny (NotAction, on association ARNs) wins over the Allow.
	_, err = limited.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	wantDenied(t, err, who, "eks:DeletePodIdentityAssociation", *a.AssociationArn+" with an explicit deny in a session policy")
	_, err = limited.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("other"), AssociationId: otherA.Association.AssociationId})
	wantDenied(t, err, who, "eks:DeletePodIdentityAssociation", *otherA.Association.AssociationArn+" with an explicit deny in a session policy")

	// A Deny-only policy allows nothing, as in IAM: the session has what
	// the grant and the policy both allow.
	denyTags := session(`{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "eks:*Tag*", "Resource": "*"}}`)
	_, err = denyTags.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("other")})
	wantDenied(t, err, who, "eks:DescribeCluster", otherARN+" because no session policy allows the eks:DescribeCluster action")
	_, err = denyTags.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(demoARN)})
	wantDenied(t, err, who, "eks:ListTagsForResource", demoARN+" with an explicit deny in a session policy")
	// Element names are IAM's, exactly: a second, lower-case "action"
	// does not replace the Deny's Action; the policy is malformed and
	// denies everything.
	_, err = session(`{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "eks:*", "Resource": "*", "action": "sts:Nothing"}]}`).
		DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("other")})
	wantDenied(t, err, who, "eks:DescribeCluster", otherARN+" with an explicit deny in a session policy")

	// Without a policy the role's grant alone decides.
	if _, err := session("").DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("other")}); err != nil {
		t.Errorf("no policy: %v", err)
	}
	// A policy that is JSON but not a policy denies rather than allows.
	_, err = session(`{"Statement": "everything"}`).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	wantDenied(t, err, who, "eks:DescribeCluster", demoARN+" with an explicit deny in a session policy")
}
