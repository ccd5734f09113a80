package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// The EKS operations that create, change or remove clusters say, through
// the real SDK, that clusters come from the server's configuration.
func TestClusterLifecycleSaysClustersComeFromConfiguration(t *testing.T) {
	e := newEnv(t)
	for op, call := range clusterLifecycleCalls(e.eks, "demo") {
		err := call()
		wantAPIError[*types.ClientException](t, err, 400)
		var ce *types.ClientException
		if errors.As(err, &ce) && !strings.Contains(ce.ErrorMessage(), op+" is not offered: this server's clusters are declared in its configuration file") {
			t.Errorf("%s: message %q does not say where clusters come from", op, ce.ErrorMessage())
		}
	}
}

// The operations on a named cluster are authorized on that cluster: a
// tenant granted only demo is denied them on another cluster, with the
// cluster's ARN in the message, before it learns anything more.
func TestClusterLifecycleAuthorizedOnTheCluster(t *testing.T) {
	e := newEnv(t)
	tenant := eksAs(e.url, tenantKey, tenantSecret)
	for op, call := range clusterLifecycleCalls(tenant, "other") {
		if op == "CreateCluster" || op == "RegisterCluster" {
			continue // account-wide: they name no existing cluster
		}
		wantDenied(t, call(), tenantARN, "eks:"+op, "arn:aws:eks:us-west-2:111122223333:cluster/other")
	}
}

// clusterLifecycleCalls are the six cluster lifecycle operations through
// client, those on an existing cluster naming cluster.
func clusterLifecycleCalls(client *eks.Client, cluster string) map[string]func() error {
	name := aws.String(cluster)
	return map[string]func() error{
		"CreateCluster": func() error {
			_, err := client.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("new"), RoleArn: aws.String(testRole),
				ResourcesVpcConfig: &types.VpcConfigRequest{SubnetIds: []string{"subnet-1"}}})
			return err
		},
		"DeleteCluster": func() error { _, err := client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: name}); return err },
		"UpdateClusterConfig": func() error {
			_, err := client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name})
			return err
		},
		"UpdateClusterVersion": func() error {
			_, err := client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: name, Version: aws.String("1.33")})
			return err
		},
		"RegisterCluster": func() error {
			_, err := client.RegisterCluster(ctx, &eks.RegisterClusterInput{Name: aws.String("new"),
				ConnectorConfig: &types.ConnectorConfigRequest{Provider: types.ConnectorConfigProviderOther, RoleArn: aws.String(testRole)}})
			return err
		},
		"DeregisterCluster": func() error {
			_, err := client.DeregisterCluster(ctx, &eks.DeregisterClusterInput{Name: name})
			return err
		},
	}
}
