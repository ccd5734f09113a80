package podidentity_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// BenchmarkAssumeWithPatterns compares the assume path (token validation
// stubbed, association lookup, session shaping, issuing stubbed) on a
// cluster of 100,000 exact associations with and without 1,000 pattern
// associations beside them. "warm" is the steady state: 1,000 pods asking
// again and again, served by the lookup cache. "cold" moves the clock past
// the cache's lifetime before every request, so each one goes to the store
// (and, for a pod of a pattern association, reloads the cluster's pattern
// list too: the worst case, which a real server pays once a second).
func BenchmarkAssumeWithPatterns(b *testing.B) {
	const exact, patterns = 100_000, 1_000
	for _, withPatterns := range []bool{false, true} {
		svc, clock := benchService(b, exact, map[bool]int{false: 0, true: patterns}[withPatterns])
		name := "exact-only"
		if withPatterns {
			name = "with-patterns"
		}
		for _, cold := range []bool{false, true} {
			temp := "warm"
			if cold {
				temp = "cold"
			}
			b.Run(name+"/exact-pod/"+temp, func(b *testing.B) {
				benchAssume(b, svc, clock, cold, func(i int) string { return fmt.Sprintf("ns-%04d/sa-%03d", i%1000, (i/1000)%100) })
			})
			if withPatterns {
				b.Run(name+"/pattern-pod/"+temp, func(b *testing.B) {
					benchAssume(b, svc, clock, cold, func(i int) string { return fmt.Sprintf("team-%03d-x/sa-%03d", i%patterns, (i/patterns)%100) })
				})
			}
		}
	}
}

func benchAssume(b *testing.B, svc *pi.Service, clock *atomic.Int64, cold bool, token func(int) string) {
	ctx := context.Background()
	const warmSet = 1000
	if !cold {
		for i := range warmSet {
			svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: token(i)})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if cold {
			clock.Add(int64(2 * pi.LookupCacheTTL))
		} else {
			i %= warmSet
		}
		if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: token(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchTokens validates "namespace/serviceAccount" tokens without parsing
// a JWT: token validation is measured in internal/satoken.
type benchTokens struct{}

func (benchTokens) Validate(_ context.Context, cluster, token string) (*pi.PodIdentity, error) {
	var ns, sa string
	for i := range len(token) {
		if token[i] == '/' {
			ns, sa = token[:i], token[i+1:]
		}
	}
	return &pi.PodIdentity{Cluster: cluster, Namespace: ns, ServiceAccount: sa, PodName: sa + "-0", PodUID: "uid"}, nil
}

type nopIssuer struct{}

func (nopIssuer) Issue(context.Context, *pi.CredentialRequest) (*pi.IssuedCredentials, error) {
	return &pi.IssuedCredentials{AccessKeyID: "ASIAEXAMPLE"}, nil
}

func benchService(b *testing.B, exact, patterns int) (*pi.Service, *atomic.Int64) {
	b.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	l, err := store.NewLoader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(n int, ns, sa string) {
		if err := l.Association(&pi.Association{ClusterName: "demo", AssociationID: fmt.Sprintf("a-%017d", n), Namespace: ns, ServiceAccount: sa,
			RoleARN: "arn:aws:iam::111122223333:role/r", Tags: map[string]string{}, CreatedAt: t0, ModifiedAt: t0}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range exact {
		add(i, fmt.Sprintf("ns-%04d", i%1000), fmt.Sprintf("sa-%03d", i/1000))
	}
	for i := range patterns {
		add(exact+i, fmt.Sprintf("team-%03d-*", i), "*")
	}
	if _, err := l.Commit(); err != nil {
		b.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	svc, err := pi.NewService(ctx, pi.ServiceConfig{
		Store: store, Region: "us-west-2", AccountID: "111122223333", Patterns: true,
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer"}},
		Now:      func() time.Time { return time.Unix(0, clock.Load()) },
		Credentials: &pi.CredentialDeps{Validator: benchTokens{}, Issuer: nopIssuer{},
			SessionName: func(c, p string) string { return "eks-" + c + "-" + p }},
		CredentialPolicy: pi.CredentialPolicy{Duration: time.Hour, ChainedDuration: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc, &clock
}
