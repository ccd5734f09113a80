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

// A table that grew without expiry (an upgrade from before it) holds many
// expired tokens. The first write must not try to delete them all at once,
// which with millions of rows outlasts its deadline and fails every write
// after it: each write deletes a bounded batch, and the table drains over
// the writes that follow. A token whose expired row has not been swept yet
// can be used again.
func TestExpiredTokensDrainInBatches(t *testing.T) {
	for _, flavor := range []string{"memory", "sqlite", "postgres"} {
		t.Run(flavor, func(t *testing.T) {
			var s *DB
			switch flavor {
			case "memory":
				s = openT(t, "memory", Options{})
			case "sqlite":
				s = openT(t, "sqlite://"+filepath.Join(t.TempDir(), "drain.db"), Options{})
			default:
				s = openT(t, sharedPG.Get(t).NewDatabase(t), Options{})
			}
			defer s.Close()
			testExpiredTokensDrain(t, s)
		})
	}
}

func testExpiredTokensDrain(t *testing.T, s *DB) {
	ctx := context.Background()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	svc, err := pi.NewService(ctx, pi.ServiceConfig{Store: s, Region: "us-west-2", AccountID: "111122223333",
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer.example"}},
		Now:      func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]string
	for i := range ids {
		a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "ns", ServiceAccount: fmt.Sprintf("sa-%d", i),
			RoleARN: "arn:aws:iam::111122223333:role/r"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.AssociationID
	}
	old, live := ids[0], ids[1]
	// 20,000 tokens of an association nobody writes to, two days old, and
	// one of the live association's, expired a hour ago.
	const stale = 20000
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	insert, err := tx.Prepare(s.flavor.rebind(`INSERT INTO idempotency_tokens (scope, token, request_hash, association_id, created_at) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range stale {
		if _, err := insert.Exec("update/demo/"+old, fmt.Sprintf("stale-%d", i), "h", old, now.Add(-48*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := insert.Exec("update/demo/"+live, "reused", "h", live, now.Add(-25*time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	insert.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	expired := func() int {
		var n int
		if err := s.db.QueryRow(s.flavor.rebind(`SELECT COUNT(*) FROM idempotency_tokens WHERE created_at < ?`), now.Add(-pi.IdempotencyWindow).UnixMilli()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	role := "arn:aws:iam::111122223333:role/b"
	update := func(token string) {
		t.Helper()
		start := time.Now()
		if _, err := svc.UpdateAssociation(ctx, pi.UpdateAssociationInput{ClusterName: "demo", AssociationID: live,
			RoleARN: &role, ClientRequestToken: token}); err != nil {
			t.Fatalf("update with token %s: %v", token, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("update with token %s took %v", token, d)
		}
	}
	// The expired token is used again, with other parameters: a new request.
	update("reused")
	if n := expired(); n < stale+1-idemSweepBatch-1 {
		t.Fatalf("one write deleted %d expired tokens; at most %d (and its own) per write", stale+1-n, idemSweepBatch)
	}
	for i := 0; expired() > 0; i++ {
		if i > stale/idemSweepBatch+1 {
			t.Fatalf("%d expired tokens remain after %d writes", expired(), i+1)
		}
		update(fmt.Sprintf("fresh-%d", i))
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
