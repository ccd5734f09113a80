package podidentity_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// podTokens is a TokenValidator for these tests: the token is the key of a
// pod identity. Token validation itself is tested in internal/satoken.
type podTokens map[string]pi.PodIdentity

func (p podTokens) Validate(_ context.Context, cluster, token string) (*pi.PodIdentity, error) {
	id, ok := p[token]
	if !ok || id.Cluster != cluster {
		return nil, pi.Errorf(pi.CodeInvalidToken, "unknown token")
	}
	return &id, nil
}

// recordingIssuer returns fixed credentials and remembers each request.
type recordingIssuer struct{ reqs []pi.CredentialRequest }

func (r *recordingIssuer) Issue(_ context.Context, req *pi.CredentialRequest) (*pi.IssuedCredentials, error) {
	r.reqs = append(r.reqs, *req)
	return &pi.IssuedCredentials{AccessKeyID: "ASIAEXAMPLE", Expiration: time.Unix(0, 0).Add(req.Duration)}, nil
}

func newAssumeService(t *testing.T, tokens podTokens) (*pi.Service, *recordingIssuer) {
	t.Helper()
	return newAssumeServiceWith(t, tokens, nil)
}

// newAssumeServiceWith is newAssumeService with the server settings
// (patterns, session shaping) that opt sets.
func newAssumeServiceWith(t *testing.T, tokens podTokens, opt func(*pi.ServiceConfig)) (*pi.Service, *recordingIssuer) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	iss := &recordingIssuer{}
	cfg := pi.ServiceConfig{
		Store: store, Region: "us-west-2", AccountID: "111122223333",
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer"}},
		Credentials: &pi.CredentialDeps{
			Validator: tokens, Issuer: iss,
			SessionName: func(cluster, pod string) string { return "eks-" + cluster + "-" + pod + "-x" },
		},
		CredentialPolicy: pi.CredentialPolicy{Duration: 6 * time.Hour, ChainedDuration: time.Hour},
	}
	if opt != nil {
		opt(&cfg)
	}
	svc, err := pi.NewService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc, iss
}

func TestAssumeRoleForPodIdentity(t *testing.T) {
	ctx := context.Background()
	pod := pi.PodIdentity{Cluster: "demo", Namespace: "ns", ServiceAccount: "sa", PodName: "web-0", PodUID: "uid-1"}
	svc, iss := newAssumeService(t, podTokens{"tok": pod})

	// No association yet: not found, and the miss must not hide the
	// association created right after it (the lookup cache).
	_, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"})
	if pi.ErrorCode(err) != pi.CodeNotFound {
		t.Fatalf("before create: %v, want not found", err)
	}
	a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "ns", ServiceAccount: "sa", RoleARN: "arn:aws:iam::111122223333:role/r"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"})
	if err != nil {
		t.Fatalf("right after create: %v", err)
	}
	if out.AssociationID != a.AssociationID || out.AssociationARN != a.AssociationARN || out.Namespace != "ns" || out.ServiceAccount != "sa" {
		t.Errorf("output %+v", out)
	}
	req := iss.reqs[0]
	wantTags := map[string]string{
		"eks-cluster-arn": "arn:aws:eks:us-west-2:111122223333:cluster/demo", "eks-cluster-name": "demo",
		"kubernetes-namespace": "ns", "kubernetes-service-account": "sa", "kubernetes-pod-name": "web-0", "kubernetes-pod-uid": "uid-1",
	}
	if diff := cmp.Diff(wantTags, req.SessionTags); diff != "" {
		t.Errorf("session tags (-want +got):\n%s", diff)
	}
	if req.Duration != 6*time.Hour || req.SessionName != "eks-demo-web-0-x" {
		t.Errorf("duration %s session %q", req.Duration, req.SessionName)
	}

	// An update is seen at once: target role → chained lifetime, and
	// disabling session tags drops them.
	target, disable := "arn:aws:iam::444455556666:role/t", true
	if _, err := svc.UpdateAssociation(ctx, pi.UpdateAssociationInput{ClusterName: "demo", AssociationID: a.AssociationID, TargetRoleARN: &target, DisableSessionTags: &disable}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	req = iss.reqs[1]
	if req.Duration != time.Hour || req.SessionTags != nil || req.Association.TargetRoleARN != target {
		t.Errorf("after update: duration %s tags %v target %q", req.Duration, req.SessionTags, req.Association.TargetRoleARN)
	}

	// A delete is seen at once too.
	if _, err := svc.DeleteAssociation(ctx, "demo", a.AssociationID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok"}); pi.ErrorCode(err) != pi.CodeNotFound {
		t.Fatalf("after delete: %v, want not found", err)
	}

	for name, in := range map[string]pi.AssumeRoleInput{
		"unknown cluster": {ClusterName: "nope", Token: "tok"},
		"empty token":     {ClusterName: "demo"},
		"bad token":       {ClusterName: "demo", Token: "other"},
	} {
		_, err := svc.AssumeRoleForPodIdentity(ctx, in)
		want := map[string]pi.Code{"unknown cluster": pi.CodeNotFound, "empty token": pi.CodeInvalidParameter, "bad token": pi.CodeInvalidToken}[name]
		if pi.ErrorCode(err) != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
}
