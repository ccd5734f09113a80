package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Replicas returns n stores open on one new, empty database, as n server
// replicas each hold their own store on a shared database. The suite
// closes them.
type Replicas func(t *testing.T, n int) []pi.Store

// RunReplicas runs the tests whose invariants must hold across replicas:
// several stores writing one database at the same time.
func RunReplicas(t *testing.T, newReplicas Replicas) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b pi.Store)
	}{
		{"UniqueUnderConcurrentCreates", testReplicaUnique},
		{"LimitUnderConcurrentCreates", testReplicaLimit},
		{"Limit5000UnderConcurrentCreates", testLimit5000},
		{"IdempotentCreateRacingItsRetry", testReplicaIdempotency},
		{"ConcurrentUpdatesKeepEveryChange", testReplicaUpdates},
		{"TagLimitUnderConcurrentTagging", testReplicaTags},
		{"SettingRace", testReplicaSettings},
		{"WritesVisibleEverywhere", testReplicaVisibility},
		{"ListWhileOtherReplicaWrites", testReplicaListUnderChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stores := newReplicas(t, 2)
			for _, s := range stores {
				t.Cleanup(func() { s.Close() })
			}
			tc.fn(t, stores[0], stores[1])
		})
	}
}

// race runs fn(i, store) for i in [0, n) concurrently, alternating between
// the two stores, and waits for all.
func race(n int, a, b pi.Store, fn func(i int, s pi.Store)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i, s)
		}()
	}
	close(start)
	wg.Wait()
}

func testReplicaUnique(t *testing.T, a, b pi.Store) {
	// Several rounds: a single round can let one side finish before the
	// other starts and prove nothing.
	for round := range 5 {
		sa := fmt.Sprintf("sa-%d", round)
		var (
			wins  atomic.Int32
			errMu sync.Mutex
			errs  []error
		)
		race(8, a, b, func(i int, s pi.Store) {
			_, err := s.CreateAssociation(ctx, assoc("c1", "ns", sa, round*100+i), 5000, nil)
			if err == nil {
				wins.Add(1)
				return
			}
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		})
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d of 8 concurrent creates across replicas succeeded, want exactly 1 (errors: %v)", round, wins.Load(), errs)
		}
		for _, err := range errs {
			wantCode(t, err, pi.CodeInUse)
		}
	}
	page, err := b.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 100})
	if err != nil || len(page) != 5 {
		t.Fatalf("list after races = %d items, %v; want 5", len(page), err)
	}
}

// raceToLimit fills a cluster that holds prefilled associations with
// concurrent creates through both stores, and checks that exactly enough
// succeed to reach limit and the rest hit the quota.
func raceToLimit(t *testing.T, a, b pi.Store, limit, prefilled, attempts, workers int) {
	t.Helper()
	var (
		next     atomic.Int64
		created  atomic.Int64
		errMu    sync.Mutex
		unwanted []error
	)
	deadline := time.Now().Add(90 * time.Second)
	race(workers, a, b, func(_ int, s pi.Store) {
		for time.Now().Before(deadline) {
			n := int(next.Add(1))
			if n > attempts {
				return
			}
			_, err := s.CreateAssociation(ctx, assoc("c1", fmt.Sprintf("ns-%d", n%7), fmt.Sprintf("sa-%05d", n), n), limit, nil)
			switch {
			case err == nil:
				created.Add(1)
			case pi.ErrorCode(err) != pi.CodeLimitExceeded:
				errMu.Lock()
				unwanted = append(unwanted, err)
				errMu.Unlock()
			}
		}
	})
	if len(unwanted) > 0 {
		t.Fatalf("%d creates failed with something other than LimitExceeded, first: %v", len(unwanted), unwanted[0])
	}
	if next.Load() <= int64(attempts) {
		t.Fatalf("only %d of %d creates ran before the deadline", next.Load()-1, attempts)
	}
	if created.Load() != int64(limit-prefilled) {
		t.Fatalf("%d creates succeeded in a cluster holding %d with a limit of %d", created.Load(), prefilled, limit)
	}
	total := 0
	var after *pi.AssociationKey
	for {
		page, err := a.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 1000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		total += len(page)
		if len(page) < 1000 {
			break
		}
		k := page[len(page)-1].Key()
		after = &k
	}
	if total != limit {
		t.Fatalf("cluster holds %d associations, want the limit %d", total, limit)
	}
	// The quota is per cluster: another cluster is unaffected.
	if _, err := b.CreateAssociation(ctx, assoc("c2", "ns", "sa", attempts+1), limit, nil); err != nil {
		t.Fatalf("create in another cluster: %v", err)
	}
}

func testReplicaLimit(t *testing.T, a, b pi.Store) { raceToLimit(t, a, b, 10, 0, 40, 8) }

// bulkLoader is implemented by stores that insert many associations at
// once, without quota checks; the suite uses it to bring a cluster close to
// its quota quickly.
type bulkLoader interface {
	LoadAssociations(ctx context.Context, as []pi.Association) error
}

// The real quota, 5,000, reached by concurrent creates (through two
// replicas when a and b differ), with more attempts than fit. A store that
// can bulk-load starts 50 short of the quota; any other is filled one
// create at a time.
func testLimit5000(t *testing.T, a, b pi.Store) {
	limit, prefilled := pi.DefaultAssociationLimit, 0
	if l, ok := a.(bulkLoader); ok {
		prefilled = limit - 50
		as := make([]pi.Association, prefilled)
		for i := range as {
			as[i] = *assoc("c1", fmt.Sprintf("bulk-%d", i%7), fmt.Sprintf("sa-%05d", i), 100_000+i)
		}
		if err := l.LoadAssociations(ctx, as); err != nil {
			t.Fatal(err)
		}
	}
	raceToLimit(t, a, b, limit, prefilled, limit-prefilled+20, 8)
}

func testReplicaIdempotency(t *testing.T, a, b pi.Store) {
	// A client retrying a create through another replica while the first
	// attempt is still running must get the same association back.
	for round := range 5 {
		idem := &pi.Idempotency{Scope: "create/c1", Token: fmt.Sprintf("tok-%d", round), RequestHash: "h", CreatedAt: t0}
		ids := make([]string, 6)
		errs := make([]error, 6)
		race(6, a, b, func(i int, s pi.Store) {
			got, err := s.CreateAssociation(ctx, assoc("c1", "ns", fmt.Sprintf("sa-%d", round), round*100+i), 5000, idem)
			errs[i] = err
			if err == nil {
				ids[i] = got.AssociationID
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: attempt %d: %v", round, i, err)
			}
			if ids[i] != ids[0] {
				t.Fatalf("round %d: retries returned different associations: %v", round, ids)
			}
		}
	}
	page, err := a.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 100})
	if err != nil || len(page) != 5 {
		t.Fatalf("list = %d items, %v; want 5 (one per token)", len(page), err)
	}
}

func testReplicaUpdates(t *testing.T, a, b pi.Store) {
	// Concurrent read-modify-writes of one association through both
	// replicas: none may overwrite another's change.
	created := mustCreate(t, a, assoc("c1", "ns", "sa", 1))
	const n = 10
	race(n, a, b, func(i int, s pi.Store) {
		_, err := s.UpdateAssociation(ctx, "c1", created.AssociationID, nil, func(x *pi.Association) error {
			x.Policy += fmt.Sprintf("[%d]", i)
			return nil
		})
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	})
	got, err := b.GetAssociation(ctx, "c1", created.AssociationID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if want := fmt.Sprintf("[%d]", i); !strings.Contains(got.Policy, want) {
			t.Errorf("update %d was lost: policy %q", i, got.Policy)
		}
	}
}

func testReplicaTags(t *testing.T, a, b pi.Store) {
	created := mustCreate(t, a, assoc("c1", "ns", "sa", 1)) // one tag: team
	const maxTags = 10
	var ok atomic.Int32
	race(20, a, b, func(i int, s pi.Store) {
		err := s.TagResource(ctx, created.AssociationID, map[string]string{fmt.Sprintf("k%02d", i): "v"}, maxTags)
		switch {
		case err == nil:
			ok.Add(1)
		case pi.ErrorCode(err) != pi.CodeInvalidParameter:
			t.Errorf("tag %d: %v", i, err)
		}
	})
	tags, err := b.Tags(ctx, created.AssociationID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != maxTags || int(ok.Load()) != maxTags-1 {
		t.Fatalf("after racing taggers: %d tags, %d accepted; want %d tags, %d accepted", len(tags), ok.Load(), maxTags, maxTags-1)
	}
}

func testReplicaSettings(t *testing.T, a, b pi.Store) {
	got := make([]string, 8)
	race(8, a, b, func(i int, s pi.Store) {
		v, err := s.SetSettingIfAbsent(ctx, "sealing-key", fmt.Sprintf("value-%d", i))
		if err != nil {
			t.Errorf("SetSettingIfAbsent %d: %v", i, err)
		}
		got[i] = v
	})
	for i := range got {
		if got[i] != got[0] || got[i] == "" {
			t.Fatalf("replicas racing to initialise a setting ended with different values: %v", got)
		}
	}
}

func testReplicaVisibility(t *testing.T, a, b pi.Store) {
	x := mustCreate(t, a, assoc("c1", "ns", "sa", 1))
	if _, err := b.FindAssociation(ctx, "c1", x.Key()); err != nil {
		t.Fatalf("created through one store, not found through the other: %v", err)
	}
	if _, err := b.UpdateAssociation(ctx, "c1", x.AssociationID, nil, func(y *pi.Association) error {
		y.RoleARN = "arn:aws:iam::111122223333:role/changed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := a.FindAssociation(ctx, "c1", x.Key())
	if err != nil || got.RoleARN != "arn:aws:iam::111122223333:role/changed" {
		t.Fatalf("update through one store not seen by the other: %+v %v", got, err)
	}
	if _, err := a.DeleteAssociation(ctx, "c1", x.AssociationID); err != nil {
		t.Fatal(err)
	}
	_, err = b.FindAssociation(ctx, "c1", x.Key())
	wantCode(t, err, pi.CodeNotFound)
}

// A replica pages through a cluster while the other creates and deletes in
// it at the same time: every association that exists throughout is listed
// exactly once.
func testReplicaListUnderChanges(t *testing.T, a, b pi.Store) {
	stable := map[string]bool{}
	for i := range 60 {
		x := mustCreate(t, a, assoc("c1", fmt.Sprintf("ns-%d", i%3), fmt.Sprintf("stable-%02d", i), i))
		stable[x.Namespace+"/"+x.ServiceAccount] = true
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	var churned atomic.Int32
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Churn before, between and after the stable keys.
			x := assoc("c1", fmt.Sprintf("ns-%d", i%4), fmt.Sprintf("churn-%04d", i), 10_000+i)
			if _, err := b.CreateAssociation(ctx, x, 5000, nil); err != nil {
				t.Errorf("churn create: %v", err)
				return
			}
			if i%2 == 0 {
				if _, err := b.DeleteAssociation(ctx, "c1", x.AssociationID); err != nil {
					t.Errorf("churn delete: %v", err)
					return
				}
			}
			churned.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()
	// Walk while the churn runs: at least 3 walks, and until the other
	// replica has made 20 changes during them (bounded).
	for deadline := time.Now().Add(10 * time.Second); churned.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	atStart := churned.Load()
	for walk := 0; walk < 3 || (churned.Load()-atStart < 20 && walk < 500); walk++ {
		seen := map[string]int{}
		var after *pi.AssociationKey
		for page := 0; ; page++ {
			items, err := a.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 5, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys(items) {
				seen[k]++
			}
			if len(items) < 5 {
				break
			}
			last := items[len(items)-1].Key()
			after = &last
			if page > 10_000 {
				t.Fatal("pagination does not terminate")
			}
		}
		missing, repeated := walkFaults(stable, seen)
		if len(missing) > 0 || len(repeated) > 0 {
			t.Fatalf("walk %d under concurrent churn: missing %v, repeated %v", walk, missing, repeated)
		}
	}
	if churned.Load()-atStart == 0 {
		t.Error("the other replica made no change during the walks")
	}
}
