package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// eachFlavor runs fn on a fresh SQLite file store and, where PostgreSQL is
// installed, a fresh PostgreSQL store.
func eachFlavor(t *testing.T, fn func(t *testing.T, newStore func() *DB)) {
	t.Run("SQLite", func(t *testing.T) {
		fn(t, func() *DB {
			s := openT(t, "sqlite://"+filepath.Join(t.TempDir(), fmt.Sprintf("db-%d.db", time.Now().UnixNano())), Options{})
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		pg := sharedPG.Get(t)
		fn(t, func() *DB {
			s := openT(t, pg.NewDatabase(t), Options{})
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func fixture(n int) []pi.Association {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	out := make([]pi.Association, n)
	for i := range out {
		out[i] = pi.Association{
			ClusterName: fmt.Sprintf("c%d", i%3), AssociationID: fmt.Sprintf("a-%017d", i),
			Namespace: fmt.Sprintf("ns-%d", i%5), ServiceAccount: fmt.Sprintf("sa-%04d", i),
			RoleARN: "arn:aws:iam::111122223333:role/r", Tags: map[string]string{"i": fmt.Sprint(i), "team": "x"},
			CreatedAt: t0, ModifiedAt: t0.Add(time.Duration(i) * time.Millisecond),
		}
		if i%4 == 0 {
			out[i].TargetRoleARN = "arn:aws:iam::444455556666:role/t"
			out[i].ExternalID = "x/y"
			out[i].DisableSessionTags = true
			out[i].Policy = `{"Version":"2012-10-17"}`
		}
	}
	return out
}

func exportAll(t *testing.T, s *DB) []pi.Association {
	t.Helper()
	var out []pi.Association
	if err := s.EachAssociation(context.Background(), func(a *pi.Association) error {
		out = append(out, *a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// What a Loader writes, EachAssociation reads back in key order, across
// page boundaries, tags included; a second identical load is a no-op.
func TestLoadExportRoundTrip(t *testing.T) {
	eachFlavor(t, func(t *testing.T, newStore func() *DB) {
		ctx := context.Background()
		src := fixture(2345) // crosses both the load batch and the export page
		s := newStore()
		if err := s.LoadAssociations(ctx, src); err != nil {
			t.Fatal(err)
		}
		got := exportAll(t, s)
		if len(got) != len(src) {
			t.Fatalf("exported %d associations, loaded %d", len(got), len(src))
		}
		byID := map[string]pi.Association{}
		for _, a := range src {
			byID[a.AssociationID] = a
		}
		for i, a := range got {
			if diff := cmp.Diff(byID[a.AssociationID], a); diff != "" {
				t.Fatalf("association %s (-loaded +exported):\n%s", a.AssociationID, diff)
			}
			if i > 0 {
				p := got[i-1]
				if [3]string{p.ClusterName, p.Namespace, p.ServiceAccount} == [3]string{a.ClusterName, a.Namespace, a.ServiceAccount} ||
					p.ClusterName > a.ClusterName || (p.ClusterName == a.ClusterName && (p.Namespace > a.Namespace || (p.Namespace == a.Namespace && p.ServiceAccount > a.ServiceAccount))) {
					t.Fatalf("export out of order at %d: %s/%s/%s then %s/%s/%s", i, p.ClusterName, p.Namespace, p.ServiceAccount, a.ClusterName, a.Namespace, a.ServiceAccount)
				}
			}
		}
		// Loaded rows serve the hot path like created ones.
		if _, err := s.FindAssociation(ctx, src[7].ClusterName, src[7].Key()); err != nil {
			t.Fatal(err)
		}

		l, err := s.NewLoader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range src {
			if err := l.Association(&src[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.ResourceTags("cluster/c0", map[string]string{"env": "prod"}); err != nil {
			t.Fatal(err)
		}
		if v, err := l.Setting("k", "v1"); err != nil || v != "v1" {
			t.Fatalf("Setting = %q, %v", v, err)
		}
		stats, err := l.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if stats.Inserted != 0 || stats.Skipped != len(src) || stats.Settings != 1 {
			t.Fatalf("reload stats = %+v; want every association skipped, one setting", stats)
		}
		rt, err := s.ResourceTags(ctx)
		if err != nil || len(rt) != 1 || rt["cluster/c0"]["env"] != "prod" {
			t.Fatalf("ResourceTags = %v, %v", rt, err)
		}
		settings, err := s.Settings(ctx)
		if err != nil || settings["k"] != "v1" {
			t.Fatalf("Settings = %v, %v", settings, err)
		}
	})
}

// A load that meets a different association under an existing id, or
// another association holding a service account, fails whole.
func TestLoadConflicts(t *testing.T) {
	eachFlavor(t, func(t *testing.T, newStore func() *DB) {
		ctx := context.Background()
		s := newStore()
		base := fixture(3)
		if err := s.LoadAssociations(ctx, base); err != nil {
			t.Fatal(err)
		}
		changed := fixture(3)
		changed[1].RoleARN = "arn:aws:iam::111122223333:role/other"
		err := s.LoadAssociations(ctx, append(fixture(10)[3:], changed[1]))
		if pi.ErrorCode(err) != pi.CodeInUse {
			t.Fatalf("same id, other values: %v, want CodeInUse", err)
		}
		taken := fixture(1)
		taken[0].AssociationID = "a-99999999999999999"
		err = s.LoadAssociations(ctx, taken)
		if pi.ErrorCode(err) != pi.CodeInUse {
			t.Fatalf("service account held by another id: %v, want CodeInUse", err)
		}
		if got := exportAll(t, s); len(got) != 3 {
			t.Fatalf("after refused loads the store holds %d associations, want the 3 it had", len(got))
		}
	})
}
