package local_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// FuzzRoleARNGrammarsAgree checks that the parsers of a role ARN agree:
// what the API accepts and stores as an association's targetRoleArn is
// exactly what the one grammar (podidentity.ParseRoleARN) accepts, the local
// backend can then issue credentials for it and open them again, and the
// node agent (which parses the assumed-role ARN with the SDK, as AWS's
// agent does) finds the role's account in what it is given. The seed
// role/a//b was once stored by the API and refused by every later
// AssumeRoleForPodIdentity.
func FuzzRoleARNGrammarsAgree(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111122223333:role/app",
		"arn:aws:iam::111122223333:role/a//b",
		"arn:aws:iam::111122223333:role/path/to/My.Role+x@y",
		"arn:aws-us-gov:iam::444455556666:role/team/app/Worker",
		"arn:aws:iam::111122223333:role//b",
		"arn:aws:iam::111122223333:role/a/",
		"arn:aws:iam::111122223333:role/a b",
		"arn:aws:iam:us-east-1:111122223333:role/r",
	} {
		f.Add(s)
	}
	iss, err := local.NewIssuer(local.Config{Keyring: keyring(f, testKey("k", 1)), Now: func() time.Time { return t0 }, Rand: rand.NewChaCha8([32]byte{3})})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	svc, err := podidentity.NewService(ctx, podidentity.ServiceConfig{Store: store, Region: "us-west-2", AccountID: "111122223333",
		Clusters: []podidentity.ClusterSpec{{Name: "demo", Issuer: "https://issuer.example"}}})
	if err != nil {
		f.Fatal(err)
	}
	a, err := svc.CreateAssociation(ctx, podidentity.CreateAssociationInput{ClusterName: "demo", Namespace: "ns", ServiceAccount: "sa",
		RoleARN: "arn:aws:iam::111122223333:role/app"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // an empty targetRoleArn removes the target role
		}
		stored, apiErr := svc.UpdateAssociation(ctx, podidentity.UpdateAssociationInput{ClusterName: "demo", AssociationID: a.AssociationID, TargetRoleARN: &s})
		r, grammarErr := podidentity.ParseRoleARN(s)
		// The API also keeps a target role to the server's partition (aws
		// here): no role is assumed across partitions.
		if (apiErr == nil) != (grammarErr == nil && r.Partition == "aws") {
			t.Fatalf("%q: the API says %v, the grammar says %v (partition %q)", s, apiErr, grammarErr, r.Partition)
		}
		if apiErr != nil && podidentity.ErrorCode(apiErr) != podidentity.CodeInvalidParameter {
			t.Fatalf("%q: the API refuses with %v, want InvalidParameter", s, apiErr)
		}
		if grammarErr != nil {
			return
		}
		if apiErr == nil && stored.TargetRoleARN != s {
			t.Fatalf("%q: the API stored target role %q", s, stored.TargetRoleARN)
		}
		if !podidentity.ValidAccountID(r.Account) {
			t.Fatalf("%q: account %q is not one the configuration accepts", s, r.Account)
		}
		for _, target := range []bool{false, true} {
			req := typicalRequest(t)
			if target {
				req.Association.TargetRoleARN = s
			} else {
				req.Association.RoleARN = s
			}
			creds, err := iss.Issue(context.Background(), req)
			if err != nil {
				t.Fatalf("the API accepts %q (target %v) but the local backend refuses it: %v", s, target, err)
			}
			if _, p, err := iss.Lookup(context.Background(), creds.AccessKeyID, creds.SessionToken); err != nil || p.RoleARN != s {
				t.Fatalf("credentials for %q (target %v) do not open back: %v", s, target, err)
			}
			if a, err := arn.Parse(creds.AssumedRoleARN); err != nil || a.AccountID != r.Account {
				t.Fatalf("the agent reads account %q, %v from assumed role %q of %q", a.AccountID, err, creds.AssumedRoleARN, s)
			}
		}
	})
}
