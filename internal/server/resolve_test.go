package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func withPatterns(c *pi.ServiceConfig) { c.Patterns = true }

// ResolvePodIdentityAssociation goes through patterns where List stays
// literal, and answers bad input the way EKS answers it.
func TestResolveAssociation(t *testing.T) {
	e := newEnv(t, withPatterns)
	ctx := context.Background()
	team, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("team-*"), ServiceAccount: aws.String("*"), RoleArn: aws.String(testRole)})
	if err != nil {
		t.Fatal(err)
	}
	// An equal-rank overlap is ResourceInUseException naming the other.
	_, err = e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("*-prod"), ServiceAccount: aws.String("*"), RoleArn: aws.String(testRole)})
	wantAPIError[*types.ResourceInUseException](t, err, 409)

	resolve := func(ns, sa string) *http.Response {
		q := url.Values{"namespace": {ns}, "serviceAccount": {sa}}
		return do(t, "GET", e.url+"/clusters/demo/resolve-pod-identity-association?"+q.Encode(), "")
	}
	resp := resolve("team-a", "web")
	var out struct {
		Association struct{ AssociationID, Namespace, ServiceAccount, AssociationArn string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("resolve: %d %v", resp.StatusCode, err)
	}
	if out.Association.AssociationID != aws.ToString(team.Association.AssociationId) || out.Association.Namespace != "team-*" ||
		out.Association.AssociationArn != aws.ToString(team.Association.AssociationArn) {
		t.Errorf("resolved %+v, want %s", out.Association, aws.ToString(team.Association.AssociationId))
	}
	rawError(t, resolve("other", "web"), 404, "ResourceNotFoundException")
	rawError(t, resolve("team-*", "web"), 400, "InvalidParameterException")
	rawError(t, do(t, "GET", e.url+"/clusters/demo/resolve-pod-identity-association?namespace=x", ""), 400, "InvalidParameterException")
	rawError(t, do(t, "GET", e.url+"/clusters/nope/resolve-pod-identity-association?namespace=x&serviceAccount=y", ""), 404, "ResourceNotFoundException")

	// List filters stay literal, as on AWS.
	list, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), Namespace: aws.String("team-a")})
	if err != nil || len(list.Associations) != 0 {
		t.Errorf("list namespace team-a: %v %v, want nothing", list, err)
	}
	// Authorized as ListPodIdentityAssociations: the reader may, the node may not.
	q := "?namespace=team-a&serviceAccount=web"
	if r := doSigned(t, "GET", e.url+"/clusters/demo/resolve-pod-identity-association"+q, "", "eks", "AKIAREADER0000000000", "reader-secret"); r.StatusCode != 200 {
		t.Errorf("reader: %d", r.StatusCode)
	}
	rawError(t, doSigned(t, "GET", e.url+"/clusters/demo/resolve-pod-identity-association"+q, "", "eks", "AKIANODE000000000000", "node-secret"), 403, "AccessDeniedException")
}
