package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func withShaping(c *pi.ServiceConfig) { c.SessionShaping = true }

// Off by default: reserved tags are refused with the exception each
// operation's model has, naming the setting; other tags are unaffected.
func TestSessionShapingOffRefusesReservedTags(t *testing.T) {
	e := newEnv(t)
	_, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole),
		Tags: map[string]string{"podidentity.io/session-name": "fixed"}})
	wantAPIError[*types.InvalidParameterException](t, err, 400)
	wantMessageHas(t, err, "associations.sessionShaping")
	a := create(t, e, "ns", "sa")
	_, err = e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: a.AssociationArn, Tags: map[string]string{"PodIdentity.io/Session-Tag/team": "b"}})
	wantAPIError[*types.BadRequestException](t, err, 400)
	wantMessageHas(t, err, "associations.sessionShaping")
	if _, err := e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: a.AssociationArn, Tags: map[string]string{"team": "b"}}); err != nil {
		t.Errorf("a plain tag: %v", err)
	}
}

// A principal that may tag but not update an association, or that may not
// pass its roles, cannot shape its sessions: in IAM a session tag
// overrides the role's own tag of that key, so team=b would read what
// ${aws:PrincipalTag/team} policies give team b.
func TestSessionShapeNeedsUpdateAndPassRole(t *testing.T) {
	e := newEnv(t, withShaping)
	tagger := eksAs(e.url, taggerKey, taggerSecret)
	tenant := eksAs(e.url, tenantKey, tenantSecret)
	mine := create(t, e, "ns", "sa") // testRole, which the tenant may pass
	const admin = "arn:aws:iam::111122223333:role/Admin"
	const target = "arn:aws:iam::444455556666:role/team-b-s3"
	theirs, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("admin"), RoleArn: aws.String(admin)})
	if err != nil {
		t.Fatal(err)
	}
	chained, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("chained"), RoleArn: aws.String(testRole), TargetRoleArn: aws.String(target)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: mine.AssociationArn, Tags: map[string]string{"podidentity.io/session-tag/team": "a"}}); err != nil {
		t.Fatalf("the administrator shaping a session: %v", err)
	}
	shape := map[string]string{"podidentity.io/session-tag/team": "b"}

	// Tagging alone is not enough, to set or to remove.
	_, err = tagger.TagResource(ctx, &eks.TagResourceInput{ResourceArn: mine.AssociationArn, Tags: shape})
	wantDenied(t, err, taggerARN, "eks:UpdatePodIdentityAssociation", *mine.AssociationArn)
	_, err = tagger.TagResource(ctx, &eks.TagResourceInput{ResourceArn: mine.AssociationArn, Tags: map[string]string{"podidentity.io/session-name": "eks-prod-web-0"}})
	wantDenied(t, err, taggerARN, "eks:UpdatePodIdentityAssociation", *mine.AssociationArn)
	_, err = tagger.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: mine.AssociationArn, TagKeys: []string{"podidentity.io/session-tag/team"}})
	wantDenied(t, err, taggerARN, "eks:UpdatePodIdentityAssociation", *mine.AssociationArn)
	if _, err := tagger.TagResource(ctx, &eks.TagResourceInput{ResourceArn: mine.AssociationArn, Tags: map[string]string{"owner": "x"}}); err != nil {
		t.Errorf("the tagger setting a plain tag: %v", err)
	}
	// Update without PassRole on the association's role or target role.
	_, err = tenant.TagResource(ctx, &eks.TagResourceInput{ResourceArn: theirs.Association.AssociationArn, Tags: shape})
	wantDenied(t, err, tenantARN, "iam:PassRole", admin)
	_, err = tenant.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: chained.Association.AssociationArn, TagKeys: []string{"podidentity.io/session-name"}})
	wantDenied(t, err, tenantARN, "iam:PassRole", target)
	// Nor can a create carry them without the right to update.
	_, err = tagger.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("new"), RoleArn: aws.String(testRole), Tags: shape})
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) || !strings.HasPrefix(denied.ErrorMessage(), "User: "+taggerARN+" is not authorized to perform: eks:UpdatePodIdentityAssociation on resource: arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-") {
		t.Errorf("the tagger creating with a session tag: %v", err)
	}
	if _, err := tagger.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("new"), RoleArn: aws.String(testRole)}); err != nil {
		t.Errorf("the tagger creating without one: %v", err)
	}
	// With both, as the tenant has for its own roles, it is allowed.
	if _, err := tenant.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("ns"), ServiceAccount: aws.String("shaped"), RoleArn: aws.String(testRole), Tags: shape}); err != nil {
		t.Errorf("the tenant creating with its own role and a session tag: %v", err)
	}
	if _, err := tenant.TagResource(ctx, &eks.TagResourceInput{ResourceArn: mine.AssociationArn, Tags: shape}); err != nil {
		t.Errorf("the tenant shaping its own association: %v", err)
	}

	// Nothing refused was written.
	for arn, want := range map[string]map[string]string{
		*theirs.Association.AssociationArn:  {},
		*chained.Association.AssociationArn: {},
	} {
		got, err := e.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil || len(got.Tags) != len(want) {
			t.Errorf("tags of %s: %v %v, want %v", arn, got, err, want)
		}
	}
}

// A reserved key in another case is refused, not stored as a plain tag
// that reads as reserved and does nothing.
func TestReservedKeyInAnotherCase(t *testing.T) {
	e := newEnv(t, withShaping)
	a := create(t, e, "ns", "sa")
	for _, k := range []string{"PodIdentity.io/session-name", "PODIDENTITY.IO/session-tag/team"} {
		_, err := e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: a.AssociationArn, Tags: map[string]string{k: "fixed"}})
		wantAPIError[*types.BadRequestException](t, err, 400)
		wantMessageHas(t, err, "tag "+k+": unknown reserved tag")
		_, err = e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
			Namespace: aws.String("ns"), ServiceAccount: aws.String("other"), RoleArn: aws.String(testRole), Tags: map[string]string{k: "fixed"}})
		wantAPIError[*types.InvalidParameterException](t, err, 400)
	}
	got, _ := e.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: a.AssociationArn})
	if len(got.Tags) != 0 {
		t.Errorf("tags %v, want none", got.Tags)
	}
}

func wantMessageHas(t *testing.T, err error, part string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), part) {
		t.Errorf("error %v does not mention %s", err, part)
	}
}
