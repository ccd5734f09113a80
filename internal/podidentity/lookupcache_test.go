package podidentity_test

import (
	"context"
	"errors"
	"sync/atomic"
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

// blockingPatterns holds PatternAssociations until release is closed,
// failing early if its context ends, as a database query would; it tells
// when the load starts and when a service account's exact lookup is made.
type blockingPatterns struct {
	pi.Store
	started chan struct{}
	release chan struct{}
	finds   chan string
	loads   atomic.Int32
}

func (b *blockingPatterns) FindAssociation(ctx context.Context, cluster string, key pi.AssociationKey) (*pi.Association, error) {
	b.finds <- key.ServiceAccount
	return b.Store.FindAssociation(ctx, cluster, key)
}

func (b *blockingPatterns) PatternAssociations(ctx context.Context, cluster string) ([]pi.Association, error) {
	if b.loads.Add(1) == 1 {
		close(b.started)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.release:
	}
	return b.Store.PatternAssociations(ctx, cluster)
}

// Requests waiting for one shared reload of a cluster's pattern list are
// not failed by the cancellation of the request that started it.
func TestSharedPatternReloadOutlivesItsFirstCaller(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bp := &blockingPatterns{Store: store, started: make(chan struct{}), release: make(chan struct{}), finds: make(chan string, 4)}
	svc, err := pi.NewService(ctx, pi.ServiceConfig{Store: bp, Region: "us-west-2", AccountID: "111122223333",
		Clusters: []pi.ClusterSpec{{Name: "demo", Issuer: "https://issuer"}}, Patterns: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "team-*", ServiceAccount: "*", RoleARN: roleR}); err != nil {
		t.Fatal(err)
	}

	first, cancel := context.WithCancel(ctx)
	firstErr := make(chan error, 1)
	go func() {
		_, err := svc.ResolveAssociation(first, "demo", "team-a", "first")
		firstErr <- err
	}()
	<-bp.finds
	<-bp.started
	secondErr := make(chan error, 1)
	go func() {
		_, err := svc.ResolveAssociation(ctx, "demo", "team-a", "second")
		secondErr <- err
	}()
	<-bp.finds
	// The second caller joins the reload in flight: nothing to wait on
	// but time, and joining late shows up as a second load below.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller: %v, want context.Canceled", err)
	}
	close(bp.release)
	if err := <-secondErr; err != nil {
		t.Errorf("a caller sharing the reload: %v, want the pattern association", err)
	}
	if n := bp.loads.Load(); n != 1 {
		t.Errorf("%d pattern loads, want 1 shared", n)
	}
}
