package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/sigv4"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	list := e.url + "/clusters/demo/pod-identity-associations"
	tests := []struct {
		name, key, secret, service string
		status                     int
		errType                    string
	}{
		{"unsigned", "", "", "eks", 403, "MissingAuthenticationTokenException"},
		{"unknown key", "AKIAUNKNOWN000000000", "x", "eks", 403, "UnrecognizedClientException"},
		{"wrong secret", adminKey, "not-the-secret", "eks", 403, "InvalidSignatureException"},
		{"signed for another service", adminKey, adminSecret, "eks-auth", 403, "InvalidSignatureException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rawError(t, doSigned(t, "GET", list, "", tc.service, tc.key, tc.secret), tc.status, tc.errType)
		})
	}
	// The SDK surfaces the same as typed API errors.
	_, err := eksAs(e.url, adminKey, "wrong").ListClusters(ctx, &eks.ListClustersInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("wrong secret through the SDK: %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, "ns", "sa")
	reader := eksAs(e.url, "AKIAREADER0000000000", "reader-secret")
	node := eksAs(e.url, "AKIANODE000000000000", "node-secret")

	// The reader may read cluster demo, nothing else.
	if _, err := reader.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo")}); err != nil {
		t.Errorf("reader listing demo: %v", err)
	}
	if _, err := reader.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId}); err != nil {
		t.Errorf("reader describing in demo: %v", err)
	}
	_, err := reader.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("other")})
	wantDenied(t, err, "arn:aws:iam::111122223333:user/reader", "eks:ListPodIdentityAssociations", "arn:aws:eks:us-west-2:111122223333:cluster/other")
	_, err = reader.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	wantDenied(t, err, "arn:aws:iam::111122223333:user/reader", "eks:DeletePodIdentityAssociation", *a.AssociationArn)
	_, err = reader.TagResource(ctx, &eks.TagResourceInput{ResourceArn: a.AssociationArn, Tags: map[string]string{"a": "b"}})
	wantDenied(t, err, "arn:aws:iam::111122223333:user/reader", "eks:TagResource", *a.AssociationArn)
	// A denied write changed nothing.
	if _, err := e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId}); err != nil {
		t.Errorf("association gone after a denied delete: %v", err)
	}
	// The node may assume roles but not manage associations: the privilege
	// escalation this issue closes.
	_, err = node.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("evil"), RoleArn: aws.String("arn:aws:iam::111122223333:role/Admin")})
	wantDenied(t, err, "arn:aws:iam::111122223333:role/node", "eks:CreatePodIdentityAssociation", "arn:aws:eks:us-west-2:111122223333:cluster/demo")
	// The administrator may not assume roles: eks-auth denies with its
	// modelled 400 AccessDeniedException.
	rawError(t, doSigned(t, "POST", e.url+"/clusters/demo/assume-role-for-pod-identity", `{"token":"a.b.c"}`, "eks-auth", adminKey, adminSecret), 400, "AccessDeniedException")
}

func wantDenied(t *testing.T, err error, who, action, resource string) {
	t.Helper()
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) {
		t.Fatalf("error = %v, want AccessDeniedException", err)
	}
	want := "User: " + who + " is not authorized to perform: " + action + " on resource: " + resource
	if denied.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", denied.ErrorMessage(), want)
	}
}

// iam:PassRole: a tenant that may manage associations in its cluster may
// still name only the roles it was given, as roleArn or targetRoleArn, on
// create and on update; a refusal writes nothing.
func TestPassRole(t *testing.T) {
	e := newEnv(t)
	tenant := eksAs(e.url, tenantKey, tenantSecret)
	const admin = "arn:aws:iam::111122223333:role/Admin"
	const foreign = "arn:aws:iam::444455556666:role/team-b-admin"
	mine, err := tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("team-a"), ServiceAccount: aws.String("app"), RoleArn: aws.String(testRole),
		TargetRoleArn: aws.String("arn:aws:iam::444455556666:role/team-a-s3")})
	if err != nil {
		t.Fatalf("creating with the tenant's own roles: %v", err)
	}
	id := mine.Association.AssociationId

	_, err = tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("evil"), RoleArn: aws.String(admin)})
	wantDenied(t, err, tenantARN, "iam:PassRole", admin)
	_, err = tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("evil"), RoleArn: aws.String(testRole), TargetRoleArn: aws.String(foreign)})
	wantDenied(t, err, tenantARN, "iam:PassRole", foreign)
	_, err = tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: id, RoleArn: aws.String(admin)})
	wantDenied(t, err, tenantARN, "iam:PassRole", admin)
	_, err = tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: id, TargetRoleArn: aws.String(foreign)})
	wantDenied(t, err, tenantARN, "iam:PassRole", foreign)
	// A path is not part of a role's identity for STS, which would assume
	// role Admin for these ARNs: "team-a-*" matching "team-a-x/Admin"
	// passes nothing.
	const pathAdmin, pathForeign = "arn:aws:iam::111122223333:role/team-a-x/Admin", "arn:aws:iam::444455556666:role/team-a-x/Admin"
	_, err = tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("evil"), RoleArn: aws.String(pathAdmin)})
	wantDenied(t, err, tenantARN, "iam:PassRole", admin)
	_, err = tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("kube-system"), ServiceAccount: aws.String("evil"), RoleArn: aws.String(testRole), TargetRoleArn: aws.String(pathForeign)})
	wantDenied(t, err, tenantARN, "iam:PassRole", "arn:aws:iam::444455556666:role/Admin")
	_, err = tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: id, RoleArn: aws.String(pathAdmin)})
	wantDenied(t, err, tenantARN, "iam:PassRole", admin)
	_, err = tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: id, TargetRoleArn: aws.String(pathForeign)})
	wantDenied(t, err, tenantARN, "iam:PassRole", "arn:aws:iam::444455556666:role/Admin")

	// Nothing was written: one association, with the tenant's roles.
	list, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo")})
	if err != nil || len(list.Associations) != 1 {
		t.Fatalf("associations after refusals: %+v %v", list, err)
	}
	got, err := e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: id})
	if err != nil || *got.Association.RoleArn != testRole || *got.Association.TargetRoleArn != "arn:aws:iam::444455556666:role/team-a-s3" {
		t.Fatalf("association after refused updates: %+v %v", got, err)
	}
	// Clearing the target role hands pods the role itself: that needs
	// PassRole on it, which the tenant has for its own.
	if _, err := tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: id, TargetRoleArn: aws.String("")}); err != nil {
		t.Errorf("clearing the target role: %v", err)
	}
	// An association whose first hop the tenant may not pass: clearing its
	// target would give the pods the hop role's credentials.
	const hop = "arn:aws:iam::111122223333:role/hop"
	chained, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("team-a"), ServiceAccount: aws.String("chained"), RoleArn: aws.String(hop),
		TargetRoleArn: aws.String("arn:aws:iam::444455556666:role/team-a-s3")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: chained.Association.AssociationId, TargetRoleArn: aws.String("")})
	wantDenied(t, err, tenantARN, "iam:PassRole", hop)
	got, err = e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: chained.Association.AssociationId})
	if err != nil || *got.Association.TargetRoleArn == "" {
		t.Fatalf("association after a refused clearing: %+v %v", got, err)
	}
	// Clearing it while naming a role the tenant may pass is allowed;
	// an update that keeps the target needs no PassRole on the hop.
	if _, err := tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: chained.Association.AssociationId, DisableSessionTags: aws.Bool(true)}); err != nil {
		t.Errorf("an update keeping the target role: %v", err)
	}
	if _, err := tenant.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		AssociationId: chained.Association.AssociationId, RoleArn: aws.String(testRole), TargetRoleArn: aws.String("")}); err != nil {
		t.Errorf("clearing the target role and naming the tenant's own role: %v", err)
	}
	// The tenant stays in its cluster.
	_, err = tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("other"),
		Namespace: aws.String("a"), ServiceAccount: aws.String("b"), RoleArn: aws.String(testRole)})
	wantDenied(t, err, tenantARN, "eks:CreatePodIdentityAssociation", "arn:aws:eks:us-west-2:111122223333:cluster/other")
}

// ListClusters answers with the clusters the caller may act on, and pages
// through those alone; DescribeCluster outside them stays denied.
func TestListClustersInScope(t *testing.T) {
	e := newEnv(t)
	tenant := eksAs(e.url, tenantKey, tenantSecret)
	for _, page := range []int32{1, 100} {
		out, err := tenant.ListClusters(ctx, &eks.ListClustersInput{MaxResults: aws.Int32(page)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) != 1 || out.Clusters[0] != "demo" || out.NextToken != nil {
			t.Errorf("tenant, page size %d: %v next %v, want [demo] and no next page", page, out.Clusters, out.NextToken)
		}
	}
	out, err := e.eks.ListClusters(ctx, &eks.ListClustersInput{})
	if err != nil || len(out.Clusters) != 2 {
		t.Errorf("administrator: %v %v, want both clusters", out, err)
	}
	_, err = tenant.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("other")})
	wantDenied(t, err, tenantARN, "eks:DescribeCluster", "arn:aws:eks:us-west-2:111122223333:cluster/other")
}

// A client configured for another region gets AWS's error for it, and the
// message names the region this server serves, which the client cannot
// guess: a self-hosted server's region is whatever its operator chose.
func TestWrongRegionNamesServerRegion(t *testing.T) {
	e := newEnv(t)
	const want = "The request was signed for region eu-west-1; this server's region is us-west-2."
	creds := credentials.NewStaticCredentialsProvider(adminKey, adminSecret, "")

	eksClient := eks.New(eks.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: creds, RetryMaxAttempts: 1})
	_, err := eksClient.ListClusters(ctx, &eks.ListClustersInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidSignatureException" || !strings.Contains(api.ErrorMessage(), want) {
		t.Errorf("EKS signed for eu-west-1: %v; want InvalidSignatureException naming us-west-2", err)
	}

	stsClient := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.url), Credentials: creds, RetryMaxAttempts: 1})
	_, err = stsClient.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if !errors.As(err, &api) || api.ErrorCode() != "SignatureDoesNotMatch" || !strings.Contains(api.ErrorMessage(), want) {
		t.Errorf("STS signed for eu-west-1: %v; want SignatureDoesNotMatch naming us-west-2", err)
	}
}

// robot is a kind of caller the server does not know: GetCallerIdentity
// and the access log must need nothing but the Caller interface.
type robot struct{}

func (robot) Identity() (string, string, string) {
	return "arn:aws:iam::111122223333:robot/r2", "AIDAROBOT", "111122223333"
}
func (robot) Granted(func(authz.Grant) bool) bool { return false }
func (robot) SessionPolicy() string               { return "" }

func TestAnotherKindOfCaller(t *testing.T) {
	_, policy := testAuth(t)
	verifier := &sigv4.Verifier[authz.Caller]{
		Regions: []string{"us-west-2"},
		Lookup: func(_ context.Context, key, _ string) (string, authz.Caller, error) {
			if key == "AKIAROBOT" {
				return "robot-secret", robot{}, nil
			}
			return "", nil, nil
		},
	}
	e := newEnvAuth(t, verifier, policy)
	client := sts.New(sts.Options{Region: "us-west-2", BaseEndpoint: aws.String(e.url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAROBOT", "robot-secret", "")})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Arn) != "arn:aws:iam::111122223333:robot/r2" || aws.ToString(out.UserId) != "AIDAROBOT" || aws.ToString(out.Account) != "111122223333" {
		t.Errorf("GetCallerIdentity = %s %s %s", aws.ToString(out.Arn), aws.ToString(out.UserId), aws.ToString(out.Account))
	}
	// With no grants it may do nothing else.
	_, err = eks.New(eks.Options{Region: "us-west-2", BaseEndpoint: aws.String(e.url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAROBOT", "robot-secret", "")}).ListClusters(ctx, &eks.ListClustersInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), "robot/r2") {
		t.Errorf("ListClusters by a caller without grants: %v", err)
	}
}
