package podidentity_test

import (
	"context"
	"testing"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// A pattern association deleted through one replica stops applying on
// another within LookupCacheTTL of the delete, as docs/patterns.md says,
// even for a service account first looked up just before the cached
// pattern list expires: its answer is no fresher than the list.
func TestDeletedPatternStopsWithinTTLOnOtherReplica(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	replica := func() *pi.Service {
		s, err := pi.NewService(ctx, pi.ServiceConfig{Store: store, Region: "us-west-2", AccountID: "111122223333",
			Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer"}}, Patterns: true,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := replica(), replica()
	p, err := a.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "team-*", ServiceAccount: "*", RoleARN: roleR})
	if err != nil {
		t.Fatal(err)
	}
	// B loads the cluster's pattern list now.
	if _, err := b.ResolveAssociation(ctx, "demo", "team-a", "x"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(100 * time.Millisecond)
	if _, err := a.DeleteAssociation(ctx, "demo", p.AssociationID); err != nil {
		t.Fatal(err)
	}
	deleted := now
	// Another service account, answered from B's list just before it
	// expires: stale, and allowed to be until the list expires.
	now = now.Add(890 * time.Millisecond)
	if _, err := b.ResolveAssociation(ctx, "demo", "team-a", "y"); err != nil {
		t.Fatalf("%v after the delete, from the cached list: %v", now.Sub(deleted), err)
	}
	now = deleted.Add(pi.LookupCacheTTL + time.Millisecond)
	for _, sa := range []string{"x", "y"} {
		if r, err := b.ResolveAssociation(ctx, "demo", "team-a", sa); pi.ErrorCode(err) != pi.CodeNotFound {
			t.Errorf("team-a/%s %v after the delete on another replica: %+v %v, want not found", sa, now.Sub(deleted), r, err)
		}
	}
}
