package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// Session shaping on the sts backend, as moto recorded it: the stable
// RoleSessionName, the custom Tags after the EKS ones and the
// TransitiveTagKeys, on one role and on a chain; a tag change reaches the
// next request instead of waiting for cached credentials to age out.
func TestSTSBackendSessionShapeAgainstMoto(t *testing.T) {
	motoBin := testenv.LookPath(t, "moto_server")
	py := testenv.Python(t, "boto3")
	dir := t.TempDir()
	moto := startMoto(t, motoBin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	st := startServerOnMoto(t, ctx, py, moto, dir, "associations:\n  sessionShaping: true\n")
	keys, eksc, auth, identity := st.keys, st.eks, st.auth, st.identity
	role := func(name string) string { return "arn:aws:iam::" + motoAccount + ":role/" + name }

	shape := map[string]string{
		"podidentity.io/session-name":            "{cluster}-{namespace}-{serviceAccount}",
		"podidentity.io/session-tag/team":        "payments",
		"podidentity.io/session-tag/origin":      "{namespace}.{podName}",
		"podidentity.io/transitive-session-tags": "team",
	}
	app, err := eksc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("shop"), ServiceAccount: aws.String("cart"), RoleArn: aws.String(role("app")), Tags: shape})
	if err != nil {
		t.Fatal(err)
	}
	etl, err := eksc.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"),
		Namespace: aws.String("data"), ServiceAccount: aws.String("etl"), RoleArn: aws.String(role("hop")),
		TargetRoleArn: aws.String(role("target")), Tags: shape})
	if err != nil {
		t.Fatal(err)
	}
	roles := []map[string]any{
		{"name": "app", "trust": trust(identity.ARN)},
		{"name": "hop", "trust": trust(identity.ARN), "policy": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Action": []string{"sts:AssumeRole", "sts:TagSession"}, "Resource": role("target")}}}},
		{"name": "target", "trust": trust("*", aws.ToString(etl.Association.ExternalId))},
	}
	spec, _ := json.Marshal(roles)
	if _, stderr, err := runCmdEnv(t, ctx, append(awsEnv(), "STS_ROLES="+string(spec)), py, "testdata/sts_moto_iam.py", moto.URL, "roles"); err != nil {
		t.Fatalf("creating roles: %v\n%s", err, stderr)
	}
	moto.post(t, "/moto-api/reset-auth", "0")
	moto.post(t, "/moto-api/recorder/start-recording", "")

	now := time.Now()
	assume := func(ns, sa, podName string) *eksauth.AssumeRoleForPodIdentityOutput {
		t.Helper()
		out, err := auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String("demo"),
			Token: aws.String(keys.mint(t, tokenmint.Pod{Namespace: ns, ServiceAccount: sa, PodName: podName, PodUID: "uid-" + podName}, now, time.Hour))})
		if err != nil {
			t.Fatalf("assume for pod %s: %v", podName, err)
		}
		return out
	}
	// Two pods, one session name: in the ARN the pods get.
	for _, pod := range []string{"cart-0", "cart-1"} {
		if got, want := aws.ToString(assume("shop", "cart", pod).AssumedRoleUser.Arn), "arn:aws:sts::"+motoAccount+":assumed-role/app/demo-shop-cart"; got != want {
			t.Errorf("pod %s: assumed role %s, want %s", pod, got, want)
		}
	}
	if got := aws.ToString(assume("data", "etl", "etl-0").AssumedRoleUser.Arn); got != "arn:aws:sts::"+motoAccount+":assumed-role/target/demo-data-etl" {
		t.Errorf("chained: assumed role %s", got)
	}

	rec := moto.recordedAssumeRoles(t)
	if len(rec) != 4 {
		t.Fatalf("moto recorded %d AssumeRole requests, want 4 (two pods, a chain of two)", len(rec))
	}
	eksTags := func(ns, sa, pod string) map[string]string {
		return map[string]string{
			"eks-cluster-arn": "arn:aws:eks:us-west-2:" + motoAccount + ":cluster/demo", "eks-cluster-name": "demo",
			"kubernetes-namespace": ns, "kubernetes-service-account": sa, "kubernetes-pod-name": pod, "kubernetes-pod-uid": "uid-" + pod,
			"team": "payments", "origin": ns + "." + pod,
		}
	}
	transitive := []string{"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-pod-name", "kubernetes-pod-uid", "kubernetes-service-account", "team"}
	for i, want := range []struct {
		role, name string
		tags       map[string]string
		transitive []string
	}{
		{role("app"), "demo-shop-cart", eksTags("shop", "cart", "cart-0"), transitive},
		{role("app"), "demo-shop-cart", eksTags("shop", "cart", "cart-1"), transitive},
		{role("hop"), "demo-data-etl", eksTags("data", "etl", "etl-0"), transitive},
		// The chain's second call: the non-transitive tag again, the
		// transitive ones follow by themselves.
		{role("target"), "demo-data-etl", map[string]string{"origin": "data.etl-0"}, nil},
	} {
		r := rec[i]
		if r.Params.Get("RoleArn") != want.role || r.Params.Get("RoleSessionName") != want.name {
			t.Errorf("request %d: RoleArn %s RoleSessionName %s, want %s %s", i, r.Params.Get("RoleArn"), r.Params.Get("RoleSessionName"), want.role, want.name)
		}
		if diff := cmp.Diff(want.tags, r.tags()); diff != "" {
			t.Errorf("request %d Tags (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(want.transitive, r.transitiveKeys()); diff != "" {
			t.Errorf("request %d TransitiveTagKeys (-want +got):\n%s", i, diff)
		}
	}

	// A tag change: the next request of the same pod is a new session.
	if _, err := eksc.TagResource(ctx, &eks.TagResourceInput{ResourceArn: app.Association.AssociationArn,
		Tags: map[string]string{"podidentity.io/session-name": "stable-{serviceAccount}"}}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(assume("shop", "cart", "cart-0").AssumedRoleUser.Arn); !strings.HasSuffix(got, "/app/stable-cart") {
		t.Errorf("after TagResource: %s", got)
	}
	names := []string{}
	for _, r := range moto.recordedAssumeRoles(t) {
		names = append(names, r.Params.Get("RoleSessionName"))
	}
	if !slices.Contains(names, "stable-cart") {
		t.Errorf("moto saw session names %v, want stable-cart after the tag change", names)
	}
}
