package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// tokenRows counts the remembered client request tokens.
func tokenRows(tb testing.TB, s *DB) int {
	tb.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM idempotency_tokens`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// updatesWithTokens makes n updates through the Service, each with a new
// clientRequestToken as the SDKs send, spread over associations created
// first, with the clock advancing step per update.
func updatesWithTokens(tb testing.TB, s *DB, associations, n int, step time.Duration) {
	tb.Helper()
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	svc, err := pi.NewService(ctx, pi.ServiceConfig{Store: s, Region: "us-west-2", AccountID: "111122223333",
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer.example"}},
		Now:      func() time.Time { return time.Unix(0, now.Add(int64(step))) }})
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, associations)
	for i := range ids {
		a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i),
			RoleARN: "arn:aws:iam::111122223333:role/r", ClientRequestToken: fmt.Sprintf("create-%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = a.AssociationID
	}
	roles := [2]string{"arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:role/b"}
	for i := range n {
		role := roles[i%2]
		if _, err := svc.UpdateAssociation(ctx, pi.UpdateAssociationInput{ClusterName: "demo", AssociationID: ids[i%associations],
			RoleARN: &role, ClientRequestToken: fmt.Sprintf("update-%d", i)}); err != nil {
			tb.Fatalf("update %d: %v", i, err)
		}
	}
}

// Updates with fresh tokens no longer grow the table: 6,000 of them left
// 6,001 rows behind before tokens were bounded.
func TestIdempotencyTableStaysBounded(t *testing.T) {
	s := openT(t, "memory", Options{})
	defer s.Close()
	updatesWithTokens(t, s, 1, 6000, time.Second)
	if n := tokenRows(t, s); n > pi.IdempotencyPerAssociation {
		t.Errorf("after 6,000 updates of one association: %d token rows, want at most %d", n, pi.IdempotencyPerAssociation)
	}
	// Tokens of associations nobody writes to any more expire all the
	// same: any later write clears them.
	s2 := openT(t, "memory", Options{})
	defer s2.Close()
	updatesWithTokens(t, s2, 50, 500, 10*time.Minute) // 500 updates over 3.5 days
	if n := tokenRows(t, s2); n > 24*6+1 {
		t.Errorf("%d token rows remain; only the last 24 hours' (about 144) should", n)
	}
}

// BenchmarkIdempotencyTable reports how many client-token rows remain
// after b.N updates with fresh tokens (10 associations, 100 ms apart), as
// the table size metric; the time per update is reported as usual. For the
// figure after a million updates:
//
//	go test -run '^$' -bench 'IdempotencyTable/memory' -benchtime 1000000x ./internal/store/sqlstore/
func BenchmarkIdempotencyTable(b *testing.B) {
	for _, flavor := range []string{"memory", "sqlite", "postgres"} {
		b.Run(flavor, func(b *testing.B) {
			var s *DB
			switch flavor {
			case "memory":
				s = openT(b, "memory", Options{})
			case "sqlite":
				s = openT(b, "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), Options{})
			default:
				s = openT(b, sharedPG.Get(b).NewDatabase(b), Options{})
			}
			defer s.Close()
			b.ResetTimer()
			updatesWithTokens(b, s, 10, b.N, 100*time.Millisecond)
			b.StopTimer()
			b.ReportMetric(float64(tokenRows(b, s)), "token-rows")
		})
	}
}
