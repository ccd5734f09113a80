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
	name := aws.String("demo")
	calls := map[string]func() error{
		"CreateCluster": func() error {
			_, err := e.eks.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("new"), RoleArn: aws.String(testRole),
				ResourcesVpcConfig: &types.VpcConfigRequest{SubnetIds: []string{"subnet-1"}}})
			return err
		},
		"DeleteCluster": func() error { _, err := e.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: name}); return err },
		"UpdateClusterConfig": func() error {
			_, err := e.eks.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name})
			return err
		},
		"UpdateClusterVersion": func() error {
			_, err := e.eks.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: name, Version: aws.String("1.33")})
			return err
		},
		"RegisterCluster": func() error {
			_, err := e.eks.RegisterCluster(ctx, &eks.RegisterClusterInput{Name: aws.String("new"),
				ConnectorConfig: &types.ConnectorConfigRequest{Provider: types.ConnectorConfigProviderOther, RoleArn: aws.String(testRole)}})
			return err
		},
		"DeregisterCluster": func() error {
			_, err := e.eks.DeregisterCluster(ctx, &eks.DeregisterClusterInput{Name: name})
			return err
		},
	}
	for op, call := range calls {
		err := call()
		wantAPIError[*types.ClientException](t, err, 400)
		var ce *types.ClientException
		if errors.As(err, &ce) && !strings.Contains(ce.ErrorMessage(), op+" is not offered: this server's clusters are declared in its configuration file") {
			t.Errorf("%s: message %q does not say where clusters come from", op, ce.ErrorMessage())
		}
	}
}
