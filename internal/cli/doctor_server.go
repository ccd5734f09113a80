package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"
	"github.com/aws/smithy-go"

	"github.com/podidentity/podidentity/internal/doctor"
)

// doctorServer is the podidentity server seen through the AWS SDK, with
// errors reduced to what the doctor may print.
type doctorServer struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	http     *http.Client
	eks      *eks.Client
	auth     *eksauth.Client
}

var _ doctor.Server = (*doctorServer)(nil)

func newDoctorServer(cfg aws.Config, endpoint string) *doctorServer {
	// One attempt: a diagnosis must say "unreachable" now, not after the
	// SDK's back-off.
	cfg.RetryMaxAttempts = 1
	return &doctorServer{
		endpoint: endpoint,
		region:   cfg.Region,
		creds:    cfg.Credentials,
		http:     &http.Client{Timeout: 15 * time.Second},
		eks:      eks.NewFromConfig(cfg, func(o *eks.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		auth:     eksauth.NewFromConfig(cfg, func(o *eksauth.Options) { o.BaseEndpoint = aws.String(endpoint) }),
	}
}

// reduce keeps an AWS error's code and message, and turns anything else
// (no answer at all) into doctor.ErrUnreachable.
func (s *doctorServer) reduce(err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return &doctor.APIError{Code: api.ErrorCode(), Message: api.ErrorMessage()}
	}
	// The transport's own error names the URL and the cause; the SDK's
	// wrapping around it (attempts, status 0) says nothing more.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue
	}
	return fmt.Errorf("%w at %s: %v", doctor.ErrUnreachable, s.endpoint, err)
}

func (s *doctorServer) DescribeCluster(ctx context.Context, cluster string) error {
	_, err := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	return s.reduce(err)
}

func (s *doctorServer) ResolveAssociation(ctx context.Context, cluster, namespace, serviceAccount string) (*doctor.Association, error) {
	id, err := s.resolve(ctx, cluster, namespace, serviceAccount)
	var api *doctor.APIError
	if errors.As(err, &api) && api.Code == "UnknownOperationException" {
		// A server from before ResolvePodIdentityAssociation has no
		// pattern associations: an exact listing is the whole answer.
		id, err = s.listed(ctx, cluster, namespace, serviceAccount)
	}
	if err != nil || id == "" {
		return nil, err
	}
	// The resolve answer is a summary; createdAt and the role are in the
	// association itself.
	out, err := s.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{
		ClusterName: aws.String(cluster), AssociationId: aws.String(id),
	})
	if err != nil {
		return nil, s.reduce(err)
	}
	a := out.Association
	return &doctor.Association{
		ID: aws.ToString(a.AssociationId), ARN: aws.ToString(a.AssociationArn),
		Namespace: aws.ToString(a.Namespace), ServiceAccount: aws.ToString(a.ServiceAccount),
		RoleARN: aws.ToString(a.RoleArn), CreatedAt: aws.ToTime(a.CreatedAt),
	}, nil
}

// resolve asks ResolvePodIdentityAssociation (docs/patterns.md), which the
// SDK does not know, with a request signed as the SDK would sign it.
func (s *doctorServer) resolve(ctx context.Context, cluster, namespace, serviceAccount string) (string, error) {
	u := s.endpoint + "/clusters/" + url.PathEscape(cluster) + "/resolve-pod-identity-association?" +
		url.Values{"namespace": {namespace}, "serviceAccount": {serviceAccount}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("no AWS credentials to sign with: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayloadHash, "eks", s.region, time.Now()); err != nil {
		return "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w at %s: %v", doctor.ErrUnreachable, s.endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		Association struct{ AssociationID string } `json:"association"`
		Message     string
	}
	json.Unmarshal(body, &out)
	code := resp.Header.Get("X-Amzn-ErrorType")
	switch {
	case resp.StatusCode == http.StatusOK:
		return out.Association.AssociationID, nil
	case resp.StatusCode == http.StatusNotFound && code == "ResourceNotFoundException":
		return "", nil
	case code == "":
		code = resp.Status
	}
	return "", &doctor.APIError{Code: code, Message: out.Message}
}

func (s *doctorServer) listed(ctx context.Context, cluster, namespace, serviceAccount string) (string, error) {
	out, err := s.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(cluster), Namespace: aws.String(namespace), ServiceAccount: aws.String(serviceAccount),
	})
	if err != nil {
		return "", s.reduce(err)
	}
	for _, a := range out.Associations {
		if aws.ToString(a.Namespace) == namespace && aws.ToString(a.ServiceAccount) == serviceAccount {
			return aws.ToString(a.AssociationId), nil
		}
	}
	return "", nil
}

// AssumeRoleForPodIdentity spends the token; of the answer only the role
// is kept, so the credentials cannot reach any output.
func (s *doctorServer) AssumeRoleForPodIdentity(ctx context.Context, cluster, token string) (string, error) {
	out, err := s.auth.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{
		ClusterName: aws.String(cluster), Token: aws.String(token),
	})
	if err != nil {
		return "", s.reduce(err)
	}
	if out.AssumedRoleUser != nil {
		return aws.ToString(out.AssumedRoleUser.Arn), nil
	}
	return "", nil
}

// httpAgent probes a node agent's health URL. It sends no token: the URL
// is the user's and could be anything.
type httpAgent struct {
	url    string
	client *http.Client
}

func (a httpAgent) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("answered %s: %s", resp.Status, b)
	}
	return nil
}
