package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// Paths with ".", ".." or empty segments get the AWS error of the API
// they belong to, never a redirect to the cleaned path: a client that
// followed one would act on another resource than the one it named.
func TestUncleanPathsAreNotRedirected(t *testing.T) {
	e := newEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, path, service string
		status                int
		errType               string
	}{
		{"GET", "/clusters/../clusters/demo/pod-identity-associations", "eks", 404, "ResourceNotFoundException"},
		{"POST", "/clusters/../clusters/demo/pod-identity-associations", "eks", 404, "ResourceNotFoundException"},
		{"GET", "/clusters/./demo/pod-identity-associations", "eks", 404, "ResourceNotFoundException"},
		{"GET", "/clusters/..", "eks", 404, "ResourceNotFoundException"},
		{"GET", "/clusters/../pod-identity-associations", "eks", 404, "ResourceNotFoundException"},
		{"GET", "/clusters/demo/pod-identity-associations/..", "eks", 404, "ResourceNotFoundException"},
		{"DELETE", "/clusters/demo/pod-identity-associations/../../other/pod-identity-associations/a-00000000000000000", "eks", 404, "ResourceNotFoundException"},
		{"GET", "/clusters/demo//pod-identity-associations", "eks", 404, "ResourceNotFoundException"},
		{"GET", "//clusters/demo/pod-identity-associations", "eks", 404, "UnknownOperationException"},
		{"POST", "/clusters/../assume-role-for-pod-identity", "eks-auth", 404, "ResourceNotFoundException"},
		{"POST", "/clusters/demo/./assume-role-for-pod-identity", "eks-auth", 404, "ResourceNotFoundException"},
		{"GET", "/tags/arn:aws:eks:us-west-2:111122223333:cluster/../demo", "eks", 404, "NotFoundException"},
		{"GET", "/tags", "eks", 404, "NotFoundException"},
		{"GET", "/./", "sts", 404, "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(nil)
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret},
				req, hex.EncodeToString(sum[:]), tc.service, "us-west-2", time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %s", loc)
			}
			rawError(t, resp, tc.status, tc.errType)
		})
	}

	// The SDK sends a cluster named ".." as it is.
	for _, name := range []string{"..", "."} {
		_, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(name)})
		wantAPIError[*types.ResourceNotFoundException](t, err, 404)
		_, err = e.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		wantAPIError[*types.ResourceNotFoundException](t, err, 404)
		_, err = e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String(name),
			Namespace: aws.String("n"), ServiceAccount: aws.String("s"), RoleArn: aws.String(testRole)})
		wantAPIError[*types.ResourceNotFoundException](t, err, 404)
	}
	// Nothing was created anywhere on the way.
	for _, c := range []string{"demo", "other"} {
		list, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String(c)})
		if err != nil || len(list.Associations) != 0 {
			t.Errorf("cluster %s: %+v %v", c, list, err)
		}
	}
}
