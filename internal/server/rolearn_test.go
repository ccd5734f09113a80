package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// TestRoleARNsNoBackendCanUseAreRefused: a role ARN the API stores must be
// one the credential backends accept. A path with an empty segment (or
// longer than IAM's 512 characters) used to be stored, and then every
// AssumeRoleForPodIdentity for the association failed; it is refused at
// create and update with EKS's InvalidParameterException instead.
func TestRoleARNsNoBackendCanUseAreRefused(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, "ns", "ok")
	for _, arn := range []string{
		"arn:aws:iam::" + testAccount + ":role/a//b",
		"arn:aws:iam::" + testAccount + ":role//b",
		"arn:aws:iam::" + testAccount + ":role/" + strings.Repeat("p", 512) + "/b",
	} {
		_, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(arn),
		})
		wantInvalidRoleARN(t, "create roleArn", err)
		_, err = e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole),
			TargetRoleArn: aws.String(arn),
		})
		wantInvalidRoleARN(t, "create targetRoleArn", err)
		_, err = e.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), AssociationId: a.AssociationId, RoleArn: aws.String(arn),
		})
		wantInvalidRoleARN(t, "update roleArn", err)
		_, err = e.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
			ClusterName: aws.String("demo"), AssociationId: a.AssociationId, TargetRoleArn: aws.String(arn),
		})
		wantInvalidRoleARN(t, "update targetRoleArn", err)
	}
	// Nothing was stored or changed.
	out, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Associations) != 1 || aws.ToString(out.Associations[0].AssociationId) != aws.ToString(a.AssociationId) {
		t.Errorf("associations after refused calls: %+v", out.Associations)
	}
	got, err := e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Association.RoleArn) != testRole || aws.ToString(got.Association.TargetRoleArn) != "" {
		t.Errorf("association changed: role %q target %q", aws.ToString(got.Association.RoleArn), aws.ToString(got.Association.TargetRoleArn))
	}
}

func wantInvalidRoleARN(t *testing.T, what string, err error) {
	t.Helper()
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Errorf("%s: error = %v (%T), want InvalidParameterException", what, err, err)
		return
	}
	if !strings.Contains(ipe.ErrorMessage(), "is not a valid IAM role ARN") {
		t.Errorf("%s: message %q does not say the role ARN is malformed", what, ipe.ErrorMessage())
	}
}

// A target role may be in any account, but not in another partition: no
// role is assumed across partitions.
func TestTargetRoleInAnotherPartitionRefused(t *testing.T) {
	e := newEnv(t)
	_, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole),
		TargetRoleArn: aws.String("arn:aws-cn:iam::222233334444:role/x"),
	})
	var invalid *types.InvalidParameterException
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "targetRoleArn must be in partition aws") {
		t.Errorf("target role in aws-cn: %v, want InvalidParameterException naming the partition", err)
	}
	if _, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole),
		TargetRoleArn: aws.String("arn:aws:iam::222233334444:role/x"),
	}); err != nil {
		t.Errorf("target role in another account of the partition: %v", err)
	}
}
