// Package storetest is the conformance suite every podidentity.Store must
// pass. Backends run it from their own tests with a factory that returns a
// fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Factory returns a new, empty store; the suite closes it.
type Factory func(t *testing.T) pi.Store

// Run runs every conformance test against stores from newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s pi.Store)
	}{
		{"CreateGetFindDelete", testCreateGetFindDelete},
		{"UniquePerServiceAccount", testUniquePerServiceAccount},
		{"ConcurrentCreatesOneWins", testConcurrentCreates},
		{"Limit", testLimit},
		{"Limit5000UnderConcurrentCreates", func(t *testing.T, s pi.Store) { testLimit5000(t, s, s) }},
		{"Idempotency", testIdempotency},
		{"IdempotencyExpires", testIdempotencyExpires},
		{"IdempotencyBoundedPerAssociation", testIdempotencyBounded},
		{"Update", testUpdate},
		{"ListFiltersAndPages", testList},
		{"ListUnderConcurrentChanges", testListUnderChanges},
		{"PatternsAmbiguityAndQuota", testPatterns},
		{"Tags", testTags},
		{"Settings", testSettings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

// assoc builds a valid association; ids must be unique per test.
func assoc(cluster, ns, sa string, n int) *pi.Association {
	return &pi.Association{
		ClusterName:    cluster,
		AssociationID:  fmt.Sprintf("a-%017d", n),
		Namespace:      ns,
		ServiceAccount: sa,
		RoleARN:        "arn:aws:iam::111122223333:role/r",
		Tags:           map[string]string{"team": "x"},
		CreatedAt:      t0,
		ModifiedAt:     t0,
	}
}

func wantCode(t *testing.T, err error, code pi.Code) {
	t.Helper()
	if got := pi.ErrorCode(err); err == nil || got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func mustCreate(t *testing.T, s pi.Store, a *pi.Association) *pi.Association {
	t.Helper()
	got, err := s.CreateAssociation(ctx, a, 5000, nil)
	if err != nil {
		t.Fatalf("CreateAssociation(%s): %v", a.AssociationID, err)
	}
	return got
}

func testCreateGetFindDelete(t *testing.T, s pi.Store) {
	a := assoc("c1", "ns", "sa", 1)
	a.TargetRoleARN = "arn:aws:iam::444455556666:role/t"
	a.ExternalID = "us-west-2/111122223333/c1/ns/sa"
	a.DisableSessionTags = true
	a.Policy = `{"Version":"2012-10-17"}`
	mustCreate(t, s, a)

	got, err := s.GetAssociation(ctx, "c1", a.AssociationID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("GetAssociation mismatch (-want +got):\n%s", diff)
	}
	found, err := s.FindAssociation(ctx, "c1", pi.AssociationKey{Namespace: "ns", ServiceAccount: "sa"})
	if err != nil {
		t.Fatal(err)
	}
	withoutTags := *a
	withoutTags.Tags = nil
	if diff := cmp.Diff(&withoutTags, found); diff != "" {
		t.Errorf("FindAssociation mismatch (-want +got):\n%s", diff)
	}
	// The same id in another cluster does not exist.
	_, err = s.GetAssociation(ctx, "c2", a.AssociationID)
	wantCode(t, err, pi.CodeNotFound)
	_, err = s.FindAssociation(ctx, "c1", pi.AssociationKey{Namespace: "ns", ServiceAccount: "other"})
	wantCode(t, err, pi.CodeNotFound)

	deleted, err := s.DeleteAssociation(ctx, "c1", a.AssociationID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, deleted); diff != "" {
		t.Errorf("DeleteAssociation returned (-want +got):\n%s", diff)
	}
	_, err = s.GetAssociation(ctx, "c1", a.AssociationID)
	wantCode(t, err, pi.CodeNotFound)
	_, err = s.DeleteAssociation(ctx, "c1", a.AssociationID)
	wantCode(t, err, pi.CodeNotFound)
	// Its tags went with it.
	tags, err := s.Tags(ctx, a.AssociationID)
	if err != nil || len(tags) != 0 {
		t.Errorf("tags after delete = %v, %v; want none", tags, err)
	}
}

func testUniquePerServiceAccount(t *testing.T, s pi.Store) {
	mustCreate(t, s, assoc("c1", "ns", "sa", 1))
	_, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa", 2), 5000, nil)
	wantCode(t, err, pi.CodeInUse)
	// Same pair in another cluster, or another pair: fine.
	mustCreate(t, s, assoc("c2", "ns", "sa", 3))
	mustCreate(t, s, assoc("c1", "ns", "sa2", 4))
}

func testConcurrentCreates(t *testing.T, s pi.Store) {
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
		errs []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa", 100+i), 5000, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want exactly 1", wins, n)
	}
	for _, err := range errs {
		wantCode(t, err, pi.CodeInUse)
	}
	page, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 100})
	if err != nil || len(page) != 1 {
		t.Fatalf("list after race = %d items, %v; want 1", len(page), err)
	}
}

func testLimit(t *testing.T, s pi.Store) {
	for i := range 3 {
		if _, err := s.CreateAssociation(ctx, assoc("c1", "ns", fmt.Sprintf("sa%d", i), i), 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa9", 9), 3, nil)
	wantCode(t, err, pi.CodeLimitExceeded)
	// The limit is per cluster.
	if _, err := s.CreateAssociation(ctx, assoc("c2", "ns", "sa9", 10), 3, nil); err != nil {
		t.Fatal(err)
	}
	// Deleting frees a slot.
	if _, err := s.DeleteAssociation(ctx, "c1", assoc("", "", "", 0).AssociationID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa9", 11), 3, nil); err != nil {
		t.Fatal(err)
	}
}

func testIdempotency(t *testing.T, s pi.Store) {
	idem := &pi.Idempotency{Scope: "create/c1", Token: "tok", RequestHash: "h1", CreatedAt: t0}
	first, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa", 1), 5000, idem)
	if err != nil {
		t.Fatal(err)
	}
	// A retry carries a new id (the service mints one per call) but must
	// get the original back.
	again, err := s.CreateAssociation(ctx, assoc("c1", "ns", "sa", 2), 5000, idem)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if again.AssociationID != first.AssociationID {
		t.Errorf("replay returned %s, want the original %s", again.AssociationID, first.AssociationID)
	}
	mismatch := *idem
	mismatch.RequestHash = "h2"
	_, err = s.CreateAssociation(ctx, assoc("c1", "ns", "other", 3), 5000, &mismatch)
	wantCode(t, err, pi.CodeIdempotencyMismatch)
	// The same token in another scope is independent.
	other := *idem
	other.Scope = "create/c2"
	if _, err := s.CreateAssociation(ctx, assoc("c2", "ns", "sa", 4), 5000, &other); err != nil {
		t.Fatal(err)
	}
	// Update idempotency: a replay applies nothing new.
	uidem := &pi.Idempotency{Scope: "update/c1/" + first.AssociationID, Token: "u", RequestHash: "uh", CreatedAt: t0}
	calls := 0
	change := func(a *pi.Association) error { calls++; a.RoleARN = "arn:aws:iam::111122223333:role/new"; return nil }
	if _, err := s.UpdateAssociation(ctx, "c1", first.AssociationID, uidem, change); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateAssociation(ctx, "c1", first.AssociationID, uidem, change)
	if err != nil || calls != 1 || got.RoleARN != "arn:aws:iam::111122223333:role/new" {
		t.Fatalf("update replay: calls=%d got=%+v err=%v; want 1 call and the updated association", calls, got, err)
	}
}

// A client token is honoured for IdempotencyWindow, not forever: after
// it, the same token is a new request, for updates and for creates.
func testIdempotencyExpires(t *testing.T, s pi.Store) {
	a := mustCreate(t, s, assoc("c1", "ns", "sa", 1))
	calls := 0
	change := func(a *pi.Association) error { calls++; return nil }
	update := func(at time.Time) {
		t.Helper()
		idem := &pi.Idempotency{Scope: "update/c1/" + a.AssociationID, Token: "u", RequestHash: "uh", CreatedAt: at}
		if _, err := s.UpdateAssociation(ctx, "c1", a.AssociationID, idem, change); err != nil {
			t.Fatalf("update at %s: %v", at, err)
		}
	}
	update(t0)
	update(t0.Add(pi.IdempotencyWindow - time.Minute))
	if calls != 1 {
		t.Fatalf("within the window: %d changes applied, want 1 (a replay applies nothing)", calls)
	}
	update(t0.Add(pi.IdempotencyWindow + time.Minute))
	if calls != 2 {
		t.Fatalf("after the window: %d changes applied, want 2 (the token expired)", calls)
	}
	// Recorded anew: replayed again within the new window.
	update(t0.Add(pi.IdempotencyWindow + 2*time.Minute))
	if calls != 2 {
		t.Fatalf("the token used again after expiry was not recorded: %d changes", calls)
	}

	create := func(n int, at time.Time) *pi.Association {
		t.Helper()
		idem := &pi.Idempotency{Scope: "create/c2", Token: "c", RequestHash: "ch", CreatedAt: at}
		got, err := s.CreateAssociation(ctx, assoc("c2", "ns", fmt.Sprintf("sa-%d", n), 100+n), 5000, idem)
		if err != nil {
			t.Fatalf("create %d: %v", n, err)
		}
		return got
	}
	first := create(1, t0)
	if again := create(2, t0.Add(time.Hour)); again.AssociationID != first.AssociationID {
		t.Fatalf("replay within the window created %s", again.AssociationID)
	}
	if later := create(3, t0.Add(pi.IdempotencyWindow+time.Hour)); later.AssociationID == first.AssociationID {
		t.Fatal("a token a day old still replays its create")
	}
}

// An association keeps only its newest IdempotencyPerAssociation tokens,
// however many updates it gets within the window.
func testIdempotencyBounded(t *testing.T, s pi.Store) {
	a := mustCreate(t, s, assoc("c1", "ns", "sa", 1))
	calls := 0
	change := func(a *pi.Association) error { calls++; return nil }
	update := func(n int, at time.Time) {
		t.Helper()
		idem := &pi.Idempotency{Scope: "update/c1/" + a.AssociationID, Token: fmt.Sprintf("u%04d", n), RequestHash: "h", CreatedAt: at}
		if _, err := s.UpdateAssociation(ctx, "c1", a.AssociationID, idem, change); err != nil {
			t.Fatalf("update %d: %v", n, err)
		}
	}
	total := pi.IdempotencyPerAssociation + 50
	for n := range total {
		update(n, t0.Add(time.Duration(n)*time.Millisecond))
	}
	if calls != total {
		t.Fatalf("%d distinct tokens applied %d changes", total, calls)
	}
	later := t0.Add(time.Minute)
	oldestKept := total - pi.IdempotencyPerAssociation
	for _, n := range []int{total - 1, oldestKept} {
		update(n, later)
		if calls != total {
			t.Fatalf("token %d, among the newest %d, was not replayed", n, pi.IdempotencyPerAssociation)
		}
	}
	update(oldestKept-1, later)
	if calls != total+1 {
		t.Fatalf("token %d, older than the newest %d, was still remembered", oldestKept-1, pi.IdempotencyPerAssociation)
	}
}

func testUpdate(t *testing.T, s pi.Store) {
	a := mustCreate(t, s, assoc("c1", "ns", "sa", 1))
	later := t0.Add(time.Hour)
	got, err := s.UpdateAssociation(ctx, "c1", a.AssociationID, nil, func(a *pi.Association) error {
		a.TargetRoleARN = "arn:aws:iam::444455556666:role/t"
		a.ExternalID = "x/y"
		a.DisableSessionTags = true
		a.Policy = "{}"
		a.ModifiedAt = later
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.GetAssociation(ctx, "c1", a.AssociationID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, stored); diff != "" {
		t.Errorf("stored differs from returned (-returned +stored):\n%s", diff)
	}
	if !stored.ModifiedAt.Equal(later) || !stored.CreatedAt.Equal(t0) || stored.Policy != "{}" || !stored.DisableSessionTags {
		t.Errorf("update not applied: %+v", stored)
	}
	// A failing change leaves the row untouched.
	_, err = s.UpdateAssociation(ctx, "c1", a.AssociationID, nil, func(a *pi.Association) error {
		a.RoleARN = "changed"
		return pi.Errorf(pi.CodeInvalidParameter, "no")
	})
	wantCode(t, err, pi.CodeInvalidParameter)
	again, _ := s.GetAssociation(ctx, "c1", a.AssociationID)
	if again.RoleARN == "changed" {
		t.Error("a refused update was stored")
	}
	_, err = s.UpdateAssociation(ctx, "c1", "a-nope", nil, func(*pi.Association) error { return nil })
	wantCode(t, err, pi.CodeNotFound)
}

// keys returns the (namespace/serviceAccount) of each item.
func keys(items []pi.Association) []string {
	out := make([]string, len(items))
	for i, a := range items {
		out[i] = a.Namespace + "/" + a.ServiceAccount
	}
	return out
}

func testList(t *testing.T, s pi.Store) {
	n := 0
	for _, ns := range []string{"b", "a", "c"} {
		for _, sa := range []string{"y", "x"} {
			n++
			mustCreate(t, s, assoc("c1", ns, sa, n))
		}
	}
	mustCreate(t, s, assoc("c2", "a", "x", 99))

	all, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/x", "a/y", "b/x", "b/y", "c/x", "c/y"}
	if diff := cmp.Diff(want, keys(all)); diff != "" {
		t.Errorf("list order (-want +got):\n%s", diff)
	}
	byNS, _ := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Namespace: "b", Limit: 100})
	if diff := cmp.Diff([]string{"b/x", "b/y"}, keys(byNS)); diff != "" {
		t.Errorf("namespace filter (-want +got):\n%s", diff)
	}
	bySA, _ := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", ServiceAccount: "x", Limit: 100})
	if diff := cmp.Diff([]string{"a/x", "b/x", "c/x"}, keys(bySA)); diff != "" {
		t.Errorf("service account filter (-want +got):\n%s", diff)
	}
	page, _ := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 2, After: &pi.AssociationKey{Namespace: "a", ServiceAccount: "y"}})
	if diff := cmp.Diff([]string{"b/x", "b/y"}, keys(page)); diff != "" {
		t.Errorf("keyset page (-want +got):\n%s", diff)
	}
}

func testListUnderChanges(t *testing.T, s pi.Store) {
	// Items that exist for the whole walk must each appear exactly once,
	// whatever is inserted or deleted between pages.
	stable := map[string]bool{}
	for i := range 40 {
		a := assoc("c1", "ns", fmt.Sprintf("stable-%02d", i), i)
		mustCreate(t, s, a)
		stable[a.Namespace+"/"+a.ServiceAccount] = true
	}
	var transient []string
	for i := range 20 {
		a := assoc("c1", "ns", fmt.Sprintf("stable-%02d-t", i), 1000+i)
		mustCreate(t, s, a)
		transient = append(transient, a.AssociationID)
	}
	seen := map[string]int{}
	var after *pi.AssociationKey
	for page := 0; ; page++ {
		items, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c1", Limit: 7, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys(items) {
			seen[k]++
		}
		if len(items) < 7 {
			break
		}
		last := items[len(items)-1].Key()
		after = &last
		// Churn: delete a transient row, insert new ones before and after the cursor.
		if page < len(transient) {
			if _, err := s.DeleteAssociation(ctx, "c1", transient[page]); err != nil {
				t.Fatal(err)
			}
		}
		mustCreate(t, s, assoc("c1", "aaa", fmt.Sprintf("new-%d", page), 2000+page))
		mustCreate(t, s, assoc("c1", "zzz", fmt.Sprintf("new-%d", page), 3000+page))
		if page > 100 {
			t.Fatal("pagination does not terminate")
		}
	}
	missing, repeated := walkFaults(stable, seen)
	if len(missing) > 0 || len(repeated) > 0 {
		t.Errorf("pagination under churn: missing %v, repeated %v", missing, repeated)
	}
}

func testTags(t *testing.T, s pi.Store) {
	a := mustCreate(t, s, assoc("c1", "ns", "sa", 1))
	if err := s.TagResource(ctx, a.AssociationID, map[string]string{"team": "y", "env": "prod"}, 50); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Tags(ctx, a.AssociationID)
	if diff := cmp.Diff(map[string]string{"team": "y", "env": "prod"}, got); diff != "" {
		t.Errorf("tags after TagResource (-want +got):\n%s", diff)
	}
	if err := s.UntagResource(ctx, a.AssociationID, []string{"team", "absent"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Tags(ctx, a.AssociationID)
	if diff := cmp.Diff(map[string]string{"env": "prod"}, got); diff != "" {
		t.Errorf("tags after UntagResource (-want +got):\n%s", diff)
	}
	// Tagging past the limit is refused whole.
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	wantCode(t, s.TagResource(ctx, a.AssociationID, many, 50), pi.CodeInvalidParameter)
	got, _ = s.Tags(ctx, a.AssociationID)
	if len(got) != 1 {
		t.Errorf("a refused TagResource changed tags: %v", got)
	}
	// Cluster resources have tags too, independent of associations.
	if err := s.TagResource(ctx, "cluster/c1", map[string]string{"a": "b"}, 50); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Tags(ctx, "cluster/c1")
	if diff := cmp.Diff(map[string]string{"a": "b"}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("cluster tags (-want +got):\n%s", diff)
	}
}

func testSettings(t *testing.T, s pi.Store) {
	if _, ok, err := s.Setting(ctx, "k"); ok || err != nil {
		t.Fatalf("unset setting: ok=%v err=%v", ok, err)
	}
	v, err := s.SetSettingIfAbsent(ctx, "k", "first")
	if err != nil || v != "first" {
		t.Fatalf("first set = %q, %v", v, err)
	}
	v, err = s.SetSettingIfAbsent(ctx, "k", "second")
	if err != nil || v != "first" {
		t.Fatalf("second set = %q, %v; want the first value kept", v, err)
	}
	got, ok, err := s.Setting(ctx, "k")
	if !ok || err != nil || got != "first" {
		t.Fatalf("Setting = %q %v %v", got, ok, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// walkFaults compares what a paginated walk saw with the items that existed
// throughout it: those never seen, and anything seen more than once.
func walkFaults(stable map[string]bool, seen map[string]int) (missing, repeated []string) {
	for k := range stable {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, n := range seen {
		if n > 1 {
			repeated = append(repeated, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(repeated)
	return missing, repeated
}

// Pattern associations: listed by PatternAssociations, found by
// FindAssociation only under their own text, refused when a pattern of
// equal rank overlaps them, and counted against the quota.
func testPatterns(t *testing.T, s pi.Store) {
	mustCreate(t, s, assoc("c1", "prod", "web", 1))
	team := mustCreate(t, s, assoc("c1", "team-*", "*", 2))
	mustCreate(t, s, assoc("c1", "prod", "*-api", 3))
	mustCreate(t, s, assoc("c2", "*-prod", "*", 4)) // another cluster: no conflict

	_, err := s.CreateAssociation(ctx, assoc("c1", "*-prod", "*", 5), 5000, nil)
	wantCode(t, err, pi.CodeInUse)
	if msg := pi.ErrorMessage(err); !strings.Contains(msg, team.AssociationID) {
		t.Errorf("ambiguity refused with %q, which does not name %s", msg, team.AssociationID)
	}
	_, err = s.CreateAssociation(ctx, assoc("c1", "prod", "web-*", 6), 5000, nil)
	wantCode(t, err, pi.CodeInUse)
	// More literal characters, or an exact part, rank apart: accepted.
	mustCreate(t, s, assoc("c1", "*-production", "*", 7))
	mustCreate(t, s, assoc("c1", "team-*", "web", 8))

	got, err := s.PatternAssociations(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].AssociationID < got[j].AssociationID })
	if diff := cmp.Diff([]string{"team-*/*", "prod/*-api", "*-production/*", "team-*/web"}, keys(got)); diff != "" {
		t.Errorf("PatternAssociations (-want +got):\n%s", diff)
	}
	if _, err := s.FindAssociation(ctx, "c1", pi.AssociationKey{Namespace: "team-a", ServiceAccount: "x"}); pi.ErrorCode(err) != pi.CodeNotFound {
		t.Errorf("FindAssociation matched a pattern: %v", err)
	}
	if a, err := s.FindAssociation(ctx, "c1", pi.AssociationKey{Namespace: "team-*", ServiceAccount: "*"}); err != nil || a.AssociationID != team.AssociationID {
		t.Errorf("FindAssociation by the pattern's own text = %v, %v", a, err)
	}
	// The quota counts patterns: c1 holds 5 associations.
	_, err = s.CreateAssociation(ctx, assoc("c1", "dev-*", "*", 9), 5, nil)
	wantCode(t, err, pi.CodeLimitExceeded)
}
