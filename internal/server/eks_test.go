package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

var ctx = context.Background()

func create(t *testing.T, e *testEnv, ns, sa string) *types.PodIdentityAssociation {
	t.Helper()
	out, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String(ns), ServiceAccount: aws.String(sa), RoleArn: aws.String(testRole),
	})
	if err != nil {
		t.Fatalf("create %s/%s: %v", ns, sa, err)
	}
	return out.Association
}

// wantAPIError checks the SDK surfaced the modelled exception with status.
func wantAPIError[T error](t *testing.T, err error, status int) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), status)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorMessage() == "" {
		t.Errorf("%s has an empty message", api.ErrorCode())
	}
}

func TestAssociationLifecycle(t *testing.T) {
	e := newEnv(t)
	out, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName:        aws.String("demo"),
		Namespace:          aws.String("payments"),
		ServiceAccount:     aws.String("api"),
		RoleArn:            aws.String(testRole),
		TargetRoleArn:      aws.String("arn:aws:iam::444455556666:role/data"),
		DisableSessionTags: aws.Bool(true),
		Policy:             aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`),
		Tags:               map[string]string{"team": "payments"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Association
	if !strings.HasPrefix(*a.AssociationId, "a-") || len(*a.AssociationId) != 19 {
		t.Errorf("associationId %q is not a- + 17 characters", *a.AssociationId)
	}
	wantARN := "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/" + *a.AssociationId
	if *a.AssociationArn != wantARN {
		t.Errorf("associationArn = %s, want %s", *a.AssociationArn, wantARN)
	}
	if got := aws.ToString(a.ExternalId); got != "us-west-2/111122223333/demo/payments/api" {
		t.Errorf("externalId = %q", got)
	}
	if a.CreatedAt == nil || a.ModifiedAt == nil || !a.CreatedAt.Equal(*a.ModifiedAt) {
		t.Errorf("timestamps: created %v modified %v", a.CreatedAt, a.ModifiedAt)
	}

	desc, err := e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, desc.Association, cmp.AllowUnexported(types.PodIdentityAssociation{})); diff != "" {
		t.Errorf("describe differs from create (-create +describe):\n%s", diff)
	}

	// Clearing the target role clears the external id; the policy needs
	// disableSessionTags to stay true.
	upd, err := e.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), AssociationId: a.AssociationId,
		RoleArn: aws.String("arn:aws:iam::111122223333:role/app2"), TargetRoleArn: aws.String(""),
	})
	if err != nil {
		t.Fatal(err)
	}
	u := upd.Association
	if *u.RoleArn != "arn:aws:iam::111122223333:role/app2" || u.TargetRoleArn != nil || u.ExternalId != nil {
		t.Errorf("after update: role %v target %v externalId %v", aws.ToString(u.RoleArn), aws.ToString(u.TargetRoleArn), aws.ToString(u.ExternalId))
	}
	if !u.CreatedAt.Equal(*a.CreatedAt) || u.ModifiedAt.Before(*a.ModifiedAt) {
		t.Errorf("update timestamps: created %v→%v modified %v→%v", a.CreatedAt, u.CreatedAt, a.ModifiedAt, u.ModifiedAt)
	}
	_, err = e.eks.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), AssociationId: a.AssociationId, DisableSessionTags: aws.Bool(false),
	})
	wantAPIError[*types.InvalidParameterException](t, err, 400)

	del, err := e.eks.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	if err != nil {
		t.Fatal(err)
	}
	if *del.Association.AssociationId != *a.AssociationId || *del.Association.RoleArn != "arn:aws:iam::111122223333:role/app2" {
		t.Errorf("delete returned %+v", del.Association)
	}
	_, err = e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	wantAPIError[*types.ResourceNotFoundException](t, err, 404)
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	create(t, e, "ns", "taken")
	base := func() *eks.CreatePodIdentityAssociationInput {
		return &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole)}
	}
	tests := []struct {
		name   string
		mutate func(*eks.CreatePodIdentityAssociationInput)
		check  func(t *testing.T, err error)
	}{
		{"unknown cluster", func(in *eks.CreatePodIdentityAssociationInput) { in.ClusterName = aws.String("nope") },
			func(t *testing.T, err error) { wantAPIError[*types.ResourceNotFoundException](t, err, 404) }},
		{"duplicate service account", func(in *eks.CreatePodIdentityAssociationInput) { in.ServiceAccount = aws.String("taken") },
			func(t *testing.T, err error) { wantAPIError[*types.ResourceInUseException](t, err, 409) }},
		{"bad role arn", func(in *eks.CreatePodIdentityAssociationInput) {
			in.RoleArn = aws.String("arn:aws:iam::111122223333:user/bob")
		},
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"role in another account", func(in *eks.CreatePodIdentityAssociationInput) {
			in.RoleArn = aws.String("arn:aws:iam::999999999999:role/x")
		},
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"bad target role arn", func(in *eks.CreatePodIdentityAssociationInput) { in.TargetRoleArn = aws.String("role/x") },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"bad namespace", func(in *eks.CreatePodIdentityAssociationInput) { in.Namespace = aws.String("Not_A_Label") },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"namespace too long", func(in *eks.CreatePodIdentityAssociationInput) { in.Namespace = aws.String(strings.Repeat("a", 64)) },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"bad service account", func(in *eks.CreatePodIdentityAssociationInput) { in.ServiceAccount = aws.String("-bad") },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"policy without disableSessionTags", func(in *eks.CreatePodIdentityAssociationInput) { in.Policy = aws.String("{}") },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"policy not JSON", func(in *eks.CreatePodIdentityAssociationInput) {
			in.Policy = aws.String("allow all")
			in.DisableSessionTags = aws.Bool(true)
		}, func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"policy too long", func(in *eks.CreatePodIdentityAssociationInput) {
			in.Policy = aws.String(`{"x":"` + strings.Repeat("a", 2048) + `"}`)
			in.DisableSessionTags = aws.Bool(true)
		}, func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"reserved tag prefix", func(in *eks.CreatePodIdentityAssociationInput) { in.Tags = map[string]string{"aws:x": "y"} },
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
		{"tag value too long", func(in *eks.CreatePodIdentityAssociationInput) {
			in.Tags = map[string]string{"k": strings.Repeat("v", 257)}
		},
			func(t *testing.T, err error) { wantAPIError[*types.InvalidParameterException](t, err, 400) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.mutate(in)
			_, err := e.eks.CreatePodIdentityAssociation(ctx, in)
			tc.check(t, err)
		})
	}
}

func TestCreateIdempotency(t *testing.T) {
	e := newEnv(t)
	in := &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"),
		RoleArn: aws.String(testRole), ClientRequestToken: aws.String("token-1")}
	first, err := e.eks.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.eks.CreatePodIdentityAssociation(ctx, in)
	if err != nil {
		t.Fatalf("retry with the same token: %v", err)
	}
	if *again.Association.AssociationId != *first.Association.AssociationId {
		t.Errorf("retry created %s, want the original %s", *again.Association.AssociationId, *first.Association.AssociationId)
	}
	in.RoleArn = aws.String("arn:aws:iam::111122223333:role/different")
	_, err = e.eks.CreatePodIdentityAssociation(ctx, in)
	wantAPIError[*types.InvalidRequestException](t, err, 400)
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	e := newEnv(t)
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		ok, inUse  int
		unexpected []error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
				ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("sa"), RoleArn: aws.String(testRole)})
			mu.Lock()
			defer mu.Unlock()
			var riu *types.ResourceInUseException
			switch {
			case err == nil:
				ok++
			case errors.As(err, &riu):
				inUse++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || inUse != 7 || len(unexpected) > 0 {
		t.Fatalf("8 parallel creates: %d succeeded, %d in use, unexpected %v; want 1 and 7", ok, inUse, unexpected)
	}
}

func TestAssociationLimit(t *testing.T) {
	e := newEnv(t, withLimit(2))
	create(t, e, "ns", "a")
	create(t, e, "ns", "b")
	_, err := e.eks.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String("demo"), Namespace: aws.String("ns"), ServiceAccount: aws.String("c"), RoleArn: aws.String(testRole)})
	wantAPIError[*types.ResourceLimitExceededException](t, err, 400)
}

func TestListPaginationAndFilters(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for i := range 23 {
		ns := fmt.Sprintf("ns%d", i%3)
		sa := fmt.Sprintf("sa%02d", i)
		a := create(t, e, ns, sa)
		want[*a.AssociationId] = true
	}
	p := eks.NewListPodIdentityAssociationsPaginator(e.eks, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(5)})
	got := map[string]bool{}
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.Associations {
			if got[*s.AssociationId] {
				t.Errorf("%s listed twice", *s.AssociationId)
			}
			got[*s.AssociationId] = true
			if !strings.HasSuffix(*s.AssociationArn, "/"+*s.AssociationId) || *s.ClusterName != "demo" {
				t.Errorf("bad summary %+v", s)
			}
		}
	}
	if pages != 5 || len(got) != 23 {
		t.Errorf("listed %d associations in %d pages, want 23 in 5", len(got), pages)
	}
	ns, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), Namespace: aws.String("ns1")})
	if err != nil || len(ns.Associations) != 8 {
		t.Fatalf("namespace filter: %d items, %v; want 8", len(ns.Associations), err)
	}
	one, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), Namespace: aws.String("ns1"), ServiceAccount: aws.String("sa04")})
	if err != nil || len(one.Associations) != 1 {
		t.Fatalf("namespace+serviceAccount filter: %d items, %v; want 1", len(one.Associations), err)
	}
	empty, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("other")})
	if err != nil || len(empty.Associations) != 0 || empty.NextToken != nil {
		t.Fatalf("empty cluster: %+v, %v", empty, err)
	}
	for _, mr := range []int32{0, 101} {
		_, err := e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(mr)})
		wantAPIError[*types.InvalidParameterException](t, err, 400)
	}
	_, err = e.eks.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{ClusterName: aws.String("demo"), NextToken: aws.String("garbage!")})
	wantAPIError[*types.InvalidParameterException](t, err, 400)
}

func TestClusters(t *testing.T) {
	e := newEnv(t)
	list, err := e.eks.ListClusters(ctx, &eks.ListClustersInput{MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"demo"}, list.Clusters); diff != "" || list.NextToken == nil {
		t.Errorf("first page: %v next %v", list.Clusters, list.NextToken)
	}
	list, err = e.eks.ListClusters(ctx, &eks.ListClustersInput{NextToken: list.NextToken})
	if err != nil || len(list.Clusters) != 1 || list.Clusters[0] != "other" || list.NextToken != nil {
		t.Fatalf("second page: %+v %v", list, err)
	}
	d, err := e.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Cluster
	if *c.Arn != "arn:aws:eks:us-west-2:111122223333:cluster/demo" || c.Status != types.ClusterStatusActive ||
		*c.Identity.Oidc.Issuer != "https://issuer.example/demo" || *c.Endpoint != "https://10.0.0.1:6443" || c.CreatedAt == nil {
		t.Errorf("DescribeCluster = %+v", c)
	}
	_, err = e.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("missing")})
	wantAPIError[*types.ResourceNotFoundException](t, err, 404)
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, "ns", "sa")
	arn := a.AssociationArn
	if _, err := e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"env": "prod", "team": "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eks.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"env": "prod"}, tags.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	desc, _ := e.eks.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: aws.String("demo"), AssociationId: a.AssociationId})
	if diff := cmp.Diff(map[string]string{"env": "prod"}, desc.Association.Tags); diff != "" {
		t.Errorf("association tags (-want +got):\n%s", diff)
	}

	clusterARN := aws.String("arn:aws:eks:us-west-2:111122223333:cluster/demo")
	if _, err := e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: clusterARN, Tags: map[string]string{"owner": "platform"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	if d.Cluster.Tags["owner"] != "platform" {
		t.Errorf("cluster tags = %v", d.Cluster.Tags)
	}

	missing := aws.String("arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-0000000000000000x")
	_, err = e.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: missing})
	wantAPIError[*types.NotFoundException](t, err, 404)
	_, err = e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String("arn:aws:s3:::bucket"), Tags: map[string]string{"a": "b"}})
	wantAPIError[*types.BadRequestException](t, err, 400)
	_, err = e.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"aws:reserved": "b"}})
	wantAPIError[*types.BadRequestException](t, err, 400)
	_, err = e.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:eks:eu-west-1:111122223333:cluster/demo")})
	wantAPIError[*types.NotFoundException](t, err, 404)
}

// rawError checks a response is an AWS rest-json error of the given type.
func rawError(t *testing.T, resp *http.Response, status int, errType string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || resp.Header.Get("X-Amzn-ErrorType") != errType {
		t.Fatalf("got %d %q %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, status, errType)
	}
	var doc struct{ Message string }
	if err := json.Unmarshal(body, &doc); err != nil || doc.Message == "" {
		t.Errorf("error body %q has no message", body)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("no request id header")
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, "ns", "sa")
	assocURL := e.url + "/clusters/demo/pod-identity-associations"
	tests := []struct {
		name, method, url, body string
		status                  int
		errType                 string
	}{
		{"not json", "POST", assocURL, `{"namespace":`, 400, "InvalidRequestException"},
		{"array body", "POST", assocURL, `[]`, 400, "InvalidRequestException"},
		{"unknown member", "POST", assocURL, `{"namespace":"n","serviceAccount":"s","roleArn":"` + testRole + `","bogus":1}`, 400, "InvalidRequestException"},
		{"wrong type", "POST", assocURL, `{"namespace":7,"serviceAccount":"s","roleArn":"` + testRole + `"}`, 400, "InvalidParameterException"},
		{"wrong bool type", "POST", assocURL, `{"namespace":"n","serviceAccount":"s","roleArn":"` + testRole + `","disableSessionTags":"yes"}`, 400, "InvalidParameterException"},
		{"duplicate key", "POST", assocURL, `{"namespace":"n","namespace":"m","serviceAccount":"s","roleArn":"` + testRole + `"}`, 400, "InvalidRequestException"},
		{"deep nesting", "POST", assocURL, `{"tags":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 41), 400, "InvalidRequestException"},
		{"huge number", "GET", assocURL + "?maxResults=1e400", "", 400, "InvalidParameterException"},
		{"trailing data", "POST", assocURL, `{} {}`, 400, "InvalidRequestException"},
		{"missing role", "POST", assocURL, `{"namespace":"n","serviceAccount":"s"}`, 400, "InvalidParameterException"},
		{"duplicate query", "GET", assocURL + "?namespace=a&namespace=b", "", 400, "InvalidParameterException"},
		{"body too large", "POST", assocURL, `{"namespace":"` + strings.Repeat("a", 300<<10) + `"}`, 400, "InvalidRequestException"},
		{"bad association id", "GET", assocURL + "/..%2F..%2Fetc", "", 404, "ResourceNotFoundException"},
		{"traversal in cluster", "GET", e.url + "/clusters/..%2Fdemo/pod-identity-associations", "", 404, "ResourceNotFoundException"},
		{"unknown operation", "PATCH", assocURL, "", 404, "UnknownOperationException"},
		{"unknown path", "GET", e.url + "/nope", "", 404, "UnknownOperationException"},
		{"untag without keys", "DELETE", e.url + "/tags/" + url.PathEscape(*a.AssociationArn), "", 400, "BadRequestException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rawError(t, do(t, tc.method, tc.url, tc.body), tc.status, tc.errType)
		})
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp := do(t, "GET", e.url+p, ""); resp.StatusCode != 200 {
			t.Errorf("%s = %d", p, resp.StatusCode)
		}
	}
	e.store.Close()
	if resp := do(t, "GET", e.url+"/readyz", ""); resp.StatusCode != 503 {
		t.Errorf("/readyz with the store closed = %d, want 503", resp.StatusCode)
	}
	// An operation on a closed store fails as an AWS error, not a bare 500.
	rawError(t, do(t, "GET", e.url+"/clusters/demo/pod-identity-associations", ""), 500, "ServerException")
}
