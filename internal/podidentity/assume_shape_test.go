package podidentity_test

import (
	"context"
	"errors"
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
	svc, iss := newAssumeServiceWith(t, podTokens{"tok": pod}, withShaping)
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

	if err := svc.TagResource(ctx, a.AssociationARN, map[string]string{pi.TagTransitiveSessionTags: "team"}, nil); err != nil {
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
		"TagResource":   svc.TagResource(ctx, a.AssociationARN, map[string]string{pi.TagSessionName: "{pod}"}, nil),
		"UntagResource": svc.UntagResource(ctx, a.AssociationARN, []string{pi.TagSessionTagPrefix + "team"}, nil),
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

func withShaping(c *pi.ServiceConfig) { c.SessionShaping = true }

// Session shaping is off unless the server turns it on: then reserved tags
// are refused when written, in any case, and credentials are refused for
// an association that holds some from before (an import, or the setting
// turned off), since issuing without them could widen the session.
func TestSessionShapingOff(t *testing.T) {
	ctx := context.Background()
	pod := pi.PodIdentity{Cluster: "demo", Namespace: "shop", ServiceAccount: "cart", PodName: "web-0", PodUID: "uid-1"}
	var store pi.Store
	svc, iss := newAssumeServiceWith(t, podTokens{"tok": pod}, func(c *pi.ServiceConfig) { store = c.Store })
	_, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "cart", RoleARN: roleR,
		Tags: map[string]string{pi.TagSessionTagPrefix + "team": "b"}})
	wantShapingOff(t, "CreateAssociation", err, pi.TagSessionTagPrefix+"team")
	a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "cart", RoleARN: roleR,
		Tags: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{pi.TagSessionName, "PodIdentity.IO/session-name", "podidentity.io/anything"} {
		wantShapingOff(t, "TagResource "+k, svc.TagResource(ctx, a.AssociationARN, map[string]string{k: "x", "owner": "me"}, nil), k)
	}
	if tags, _ := svc.ListTags(ctx, a.AssociationARN); len(tags) != 1 {
		t.Errorf("tags after refusals: %v, want env only", tags)
	}

	// A reserved tag stored around the rules.
	if err := store.TagResource(ctx, a.AssociationID, map[string]string{pi.TagSessionTagPrefix + "team": "b"}, pi.MaxTagsPerResource); err != nil {
		t.Fatal(err)
	}
	_, err = svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"})
	wantShapingOff(t, "AssumeRoleForPodIdentity", err, pi.TagSessionTagPrefix+"team")
	if len(iss.reqs) != 0 {
		t.Errorf("credentials issued without the session tag: %+v", iss.reqs)
	}
	// Which association applies is still an answer (the webhook asks),
	// other tags can still be written, and the reserved one removed.
	if got, err := svc.ResolveAssociation(ctx, "demo", "shop", "cart"); err != nil || got.AssociationID != a.AssociationID {
		t.Errorf("resolve: %+v %v", got, err)
	}
	if err := svc.TagResource(ctx, a.AssociationARN, map[string]string{"owner": "me"}, nil); err != nil {
		t.Errorf("tagging beside a stored reserved tag: %v", err)
	}
	if err := svc.UntagResource(ctx, a.AssociationARN, []string{pi.TagSessionTagPrefix + "team"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"}); err != nil {
		t.Errorf("after removing the reserved tag: %v", err)
	}
}

func wantShapingOff(t *testing.T, what string, err error, key string) {
	t.Helper()
	if pi.ErrorCode(err) != pi.CodeInvalidParameter || !strings.Contains(pi.ErrorMessage(err), "tag "+key+":") ||
		!strings.Contains(pi.ErrorMessage(err), "associations.sessionShaping") {
		t.Errorf("%s: %v, want InvalidParameter naming %s and the setting", what, err, key)
	}
}

// Setting or removing a reserved tag, and creating with one, asks the
// transport's ShapeCheck with the association; other tags do not. A
// refusal writes nothing.
func TestSessionShapeCheck(t *testing.T) {
	ctx := context.Background()
	svc, _ := newAssumeServiceWith(t, podTokens{}, withShaping)
	var asked []string
	deny := errors.New("denied")
	check := func(a *pi.Association) error {
		asked = append(asked, a.RoleARN+" "+a.AssociationARN)
		return deny
	}
	_, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "cart", RoleARN: roleR,
		Tags: map[string]string{pi.TagSessionName: "fixed"}, CheckSessionShape: check})
	if !errors.Is(err, deny) || len(asked) != 1 || !strings.HasPrefix(asked[0], roleR+" arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-") {
		t.Fatalf("create with a reserved tag: %v, asked %q", err, asked)
	}
	if out, _ := svc.ListAssociations(ctx, pi.ListAssociationsInput{ClusterName: "demo"}); len(out.Associations) != 0 {
		t.Fatalf("a refused create stored %+v", out.Associations)
	}
	a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "shop", ServiceAccount: "cart", RoleARN: roleR,
		Tags: map[string]string{"env": "prod"}, CheckSessionShape: check})
	if err != nil || len(asked) != 1 {
		t.Fatalf("create without reserved tags: %v, asked %q", err, asked)
	}
	if err := svc.TagResource(ctx, a.AssociationARN, map[string]string{"owner": "me"}, check); err != nil || len(asked) != 1 {
		t.Fatalf("plain tag: %v, asked %q", err, asked)
	}
	for name, err := range map[string]error{
		"TagResource":   svc.TagResource(ctx, a.AssociationARN, map[string]string{pi.TagSessionTagPrefix + "team": "b"}, check),
		"UntagResource": svc.UntagResource(ctx, a.AssociationARN, []string{"owner", pi.TagSessionName}, check),
	} {
		if !errors.Is(err, deny) {
			t.Errorf("%s: %v, want the check's refusal", name, err)
		}
	}
	if len(asked) != 3 || asked[1] != roleR+" "+a.AssociationARN {
		t.Errorf("asked %q", asked)
	}
	if tags, _ := svc.ListTags(ctx, a.AssociationARN); len(tags) != 2 || tags["owner"] != "me" {
		t.Errorf("tags after refusals: %v", tags)
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
	svc, _ := newAssumeServiceWith(t, tokens, func(c *pi.ServiceConfig) { c.Patterns = true })
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
