package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/credentials/local"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// The reads AssumeRoleForPodIdentity and ListPodIdentityAssociations make,
// on SQLite and PostgreSQL, on a small table and on a large one: both must
// stay flat as the table grows (index lookups and keyset pages, never
// scans). Associations are spread over 100 clusters, 20 namespaces each;
// the small table over 10 clusters of 100, so that its pages are full too.
//
// By default the large table holds 50,000 associations; with
// PODIDENTITY_BIG_BENCH=1 it holds 500,000 (5,000 per cluster, the quota),
// which takes a minute or two to load:
//
//	PODIDENTITY_BIG_BENCH=1 go test -run '^$' -bench Lookups -benchtime 3s ./internal/store/sqlstore/
const benchClusters = 100

// perCluster is how many of n associations each cluster holds.
func perCluster(n int) int { return n / min(benchClusters, max(1, n/100)) }

func benchSizes() []int {
	if os.Getenv("PODIDENTITY_BIG_BENCH") == "1" {
		return []int{1_000, 500_000}
	}
	return []int{1_000, 50_000}
}

func benchAssociation(i, perCluster int) pi.Association {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, j := i/perCluster, i%perCluster
	return pi.Association{
		ClusterName: fmt.Sprintf("cluster-%03d", c), AssociationID: fmt.Sprintf("a-%017d", i),
		Namespace: fmt.Sprintf("ns-%02d", j%20), ServiceAccount: fmt.Sprintf("sa-%05d", j),
		RoleARN: "arn:aws:iam::111122223333:role/r", CreatedAt: now, ModifiedAt: now,
	}
}

// loadBench fills s with n associations in 100 clusters, in batches of
// multi-row INSERTs inside one transaction.
func loadBench(b *testing.B, s *DB, n int) {
	b.Helper()
	start := time.Now()
	l, err := s.NewLoader(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Rollback()
	for i := range n {
		a := benchAssociation(i, perCluster(n))
		if err := l.Association(&a); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Commit(); err != nil {
		b.Fatal(err)
	}
	if s.flavor.name == "postgres" {
		// Fresh statistics, as autovacuum would have by the time a real
		// table had grown this large.
		if _, err := s.db.Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d associations into %s in %s", n, s.flavor.name, time.Since(start).Round(time.Millisecond))
}

func BenchmarkLookups(b *testing.B) {
	for _, flavor := range []string{"sqlite", "postgres"} {
		for _, n := range benchSizes() {
			b.Run(fmt.Sprintf("%s/rows=%d", flavor, n), func(b *testing.B) {
				var s *DB
				if flavor == "sqlite" {
					s = openT(b, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), Options{})
				} else {
					s = openT(b, sharedPG.Get(b).NewDatabase(b), Options{})
				}
				defer s.Close()
				loadBench(b, s, n)
				benchReads(b, s, n)
				benchAssume(b, s, n)
			})
		}
	}
}

func benchReads(b *testing.B, s *DB, n int) {
	ctx := context.Background()
	per := perCluster(n)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]pi.Association, 4096)
	for i := range keys {
		keys[i] = benchAssociation(rng.IntN(n), per)
	}
	b.Run("FindAssociation", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			if _, err := s.FindAssociation(ctx, k.ClusterName, k.Key()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindAssociationParallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(keys))
			for pb.Next() {
				k := keys[i%len(keys)]
				i++
				if _, err := s.FindAssociation(ctx, k.ClusterName, k.Key()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("FindAssociationMissing", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			if _, err := s.FindAssociation(ctx, k.ClusterName, pi.AssociationKey{Namespace: k.Namespace, ServiceAccount: "nobody"}); pi.ErrorCode(err) != pi.CodeNotFound {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListAssociations100First", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			page, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: k.ClusterName, Limit: 100})
			if err != nil || len(page) != min(100, per) {
				b.Fatalf("%d items, %v", len(page), err)
			}
		}
	})
	b.Run("ListAssociations100After", func(b *testing.B) {
		// A page from the middle of the cluster: the keyset cursor must
		// seek, not skip.
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			after := k.Key()
			if _, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: k.ClusterName, Limit: 100, After: &after}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListAssociations100ByNamespace", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			if _, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: k.ClusterName, Namespace: k.Namespace, Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// tokenIsPod stands in for service-account token validation (signature
// checks cost the same on every store): the token is "namespace/sa".
type tokenIsPod struct{}

func (tokenIsPod) Validate(_ context.Context, cluster, token string) (*pi.PodIdentity, error) {
	ns, sa, _ := strings.Cut(token, "/")
	return &pi.PodIdentity{Cluster: cluster, Namespace: ns, ServiceAccount: sa, PodName: "pod", PodUID: "uid"}, nil
}

// benchAssume runs the Service's AssumeRoleForPodIdentity, with its real
// lookup cache and local credential minting, for pods picked at random
// across every association: on the large table nearly every lookup misses
// the cache and reaches the database, as after a fleet-wide restart.
func benchAssume(b *testing.B, s *DB, n int) {
	ctx := context.Background()
	key, err := local.GenerateKey("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := local.NewKeyring(key)
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := local.NewIssuer(local.Config{Keyring: ring})
	if err != nil {
		b.Fatal(err)
	}
	per := perCluster(n)
	var clusters []pi.ClusterSpec
	for c := range n / per {
		clusters = append(clusters, pi.ClusterSpec{Name: fmt.Sprintf("cluster-%03d", c), Issuer: "https://issuer.example"})
	}
	svc, err := pi.NewService(ctx, pi.ServiceConfig{Store: s, Region: "us-west-2", AccountID: "111122223333", Clusters: clusters,
		Credentials: &pi.CredentialDeps{Validator: tokenIsPod{}, Issuer: issuer,
			SessionName: func(cluster, pod string) string { return "eks-" + cluster + "-" + pod }},
		CredentialPolicy: pi.CredentialPolicy{Duration: time.Hour, ChainedDuration: time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("AssumeRoleForPodIdentity", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
			for pb.Next() {
				a := benchAssociation(rng.IntN(n), per)
				if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: a.ClusterName, Token: a.Namespace + "/" + a.ServiceAccount}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
