package podidentity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

const roleR = "arn:aws:iam::111122223333:role/r"

// Reserved tags shape the session, and a tag change is seen by the next
// request.
func TestAssumeWithSessionShape(t *testing.T) {
	ctx := context.Background()
	pod := pi.PodIdentity{Cluster: "demo", Namespace: "shop", ServiceAccount: "cart", PodName: "web-0", PodUID: "uid-1"}
	svc, iss := newAssumeService(t, podTokens{"tok": pod})
	a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "cart", RoleARN: roleR,
		Tags: map[string]string{pi.TagSessionName: "{cluster}-{namespace}-{serviceAccount}", pi.TagSessionTagPrefix + "team": "payments-{podName}"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	req := iss.reqs[0]
	if req.SessionName != "demo-shop-cart" || !req.StableSessionName || req.SessionTags["team"] != "payments-web-0" || len(req.SessionTags) != 7 {
		t.Errorf("request: name %q stable %v tags %v", req.SessionName, req.StableSessionName, req.SessionTags)
	}
	if req.TransitiveTagKeys == nil || len(req.TransitiveTagKeys) != 6 {
		t.Errorf("transitive keys %v, want the six EKS tags only", req.TransitiveTagKeys)
	}

	if err := svc.TagResource(ctx, a.AssociationARN, map[string]string{pi.TagTransitiveSessionTags: "team"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	if got := iss.reqs[1].TransitiveTagKeys; !cmp.Equal(got[len(got)-1:], []string{"team"}) {
		t.Errorf("after TagResource, transitive keys %v lack team", got)
	}

	// Refusals name the tag, at each write that could store it.
	for name, err := range map[string]error{
		"TagResource":   svc.TagResource(ctx, a.AssociationARN, map[string]string{pi.TagSessionName: "{pod}"}),
		"UntagResource": svc.UntagResource(ctx, a.AssociationARN, []string{pi.TagSessionTagPrefix + "team"}),
		"UpdateAssociation": func() error {
			off := true
			_, err := svc.UpdateAssociation(ctx, pi.UpdateAssociationInput{ClusterName: "demo", AssociationID: a.AssociationID, DisableSessionTags: &off})
			return err
		}(),
		"CreateAssociation": func() error {
			_, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "other", RoleARN: roleR,
				Tags: map[string]string{pi.TagSessionTagPrefix + "eks-cluster-name": "x"}})
			return err
		}(),
	} {
		if pi.ErrorCode(err) != pi.CodeInvalidParameter || !strings.Contains(pi.ErrorMessage(err), "tag podidentity.io/") {
			t.Errorf("%s: %v, want InvalidParameter naming the tag", name, err)
		}
	}
}

// Patterns resolve by rank, the response names the association matched,
// and exact associations win.
func TestAssumeThroughPatterns(t *testing.T) {
	ctx := context.Background()
	tokens := podTokens{
		"a": {Cluster: "demo", Namespace: "team-a", ServiceAccount: "web", PodName: "p"},
		"b": {Cluster: "demo", Namespace: "team-a", ServiceAccount: "batch", PodName: "p"},
		"c": {Cluster: "demo", Namespace: "team-a", ServiceAccount: "exact", PodName: "p"},
		"d": {Cluster: "demo", Namespace: "other", ServiceAccount: "web", PodName: "p"},
	}
	off, _ := newAssumeService(t, tokens)
	if _, err := off.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "team-*", ServiceAccount: "*", RoleARN: roleR}); pi.ErrorCode(err) != pi.CodeInvalidParameter {
		t.Fatalf("pattern without the option: %v, want InvalidParameter", err)
	}
	svc, _ := newAssumeServiceWith(t, tokens, true)
	ids := map[string]string{}
	for name, k := range map[string][2]string{"team": {"team-*", "*"}, "team-web": {"team-*", "web"}, "exact": {"team-a", "exact"}} {
		a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: k[0], ServiceAccount: k[1], RoleARN: roleR})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = a.AssociationID
	}
	for tok, want := range map[string]string{"a": ids["team-web"], "b": ids["team"], "c": ids["exact"], "d": ""} {
		out, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: tok})
		if want == "" {
			if pi.ErrorCode(err) != pi.CodeNotFound {
				t.Errorf("token %s: %v, want not found", tok, err)
			}
			continue
		}
		if err != nil || out.AssociationID != want || !strings.HasSuffix(out.AssociationARN, "/"+want) {
			t.Errorf("token %s: %+v %v, want association %s", tok, out, err, want)
		}
	}
	// Deleting the better match is seen at once.
	if _, err := svc.DeleteAssociation(ctx, "demo", ids["team-web"]); err != nil {
		t.Fatal(err)
	}
	if out, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "a"}); err != nil || out.AssociationID != ids["team"] {
		t.Errorf("after delete: %+v %v, want %s", out, err, ids["team"])
	}
}
