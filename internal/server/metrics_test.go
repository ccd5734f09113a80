package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// TestMetrics: every answered request is counted by operation and by the
// code its client saw, and nothing a client sends (cluster names, paths)
// becomes a label.
func TestMetrics(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	if _, err := env.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole),
	}); err != nil {
		t.Fatal(err)
	}
	for _, cluster := range []string{"no-such-cluster-1", "no-such-cluster-2"} {
		if _, err := env.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(cluster)}); err == nil {
			t.Fatalf("listing cluster %s succeeded", cluster)
		}
	}
	doSigned(t, "GET", env.url+"/clusters/demo/pod-identity-associations", "", "eks", "", "")
	do(t, "GET", env.url+"/no/such/operation/label-bait", "")
	// STS is named by its action, as the client and the log name it.
	doSigned(t, "POST", env.url+"/", "Action=GetCallerIdentity&Version=2011-06-15", "sts", adminKey, adminSecret)
	doSigned(t, "POST", env.url+"/", "Action=GetCallerIdentity&Version=2011-06-15", "sts", adminKey, "wrong")
	doSigned(t, "POST", env.url+"/", "Action=AssumeRole-label-bait&Version=2011-06-15", "sts", adminKey, adminSecret)

	resp, err := http.Get(env.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", resp.StatusCode, text)
	}
	for _, want := range []string{
		`podidentity_server_requests_total{code="OK",operation="CreatePodIdentityAssociation"} 1`,
		`podidentity_server_requests_total{code="ResourceNotFoundException",operation="ListPodIdentityAssociations"} 2`,
		`podidentity_server_requests_total{code="MissingAuthenticationTokenException",operation="ListPodIdentityAssociations"} 1`,
		`podidentity_server_requests_total{code="UnknownOperationException",operation="Unknown"} 1`,
		`podidentity_server_requests_total{code="OK",operation="GetCallerIdentity"} 1`,
		`podidentity_server_requests_total{code="SignatureDoesNotMatch",operation="GetCallerIdentity"} 1`,
		`podidentity_server_requests_total{code="InvalidAction",operation="Unknown"} 1`,
		`podidentity_server_request_duration_seconds_count{operation="ListPodIdentityAssociations"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, bait := range []string{"no-such-cluster", "label-bait"} {
		if strings.Contains(text, bait) {
			t.Errorf("/metrics carries request data %q", bait)
		}
	}
}
