package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/pgtest"
	"github.com/podidentity/podidentity/internal/store/storetest"
)

// sharedPG serves every PostgreSQL test that does not stop the server;
// each test gets a database of its own.
var sharedPG pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := sharedPG.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	os.Exit(code)
}

func openT(t testing.TB, url string, opts Options) *DB {
	t.Helper()
	s, err := OpenOptions(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformancePostgres(t *testing.T) {
	pg := sharedPG.Get(t)
	storetest.Run(t, func(t *testing.T) pi.Store { return openT(t, pg.NewDatabase(t), Options{}) })
}

func TestReplicasPostgres(t *testing.T) {
	pg := sharedPG.Get(t)
	storetest.RunReplicas(t, func(t *testing.T, n int) []pi.Store {
		dbURL := pg.NewDatabase(t)
		var out []pi.Store
		for range n {
			out = append(out, openT(t, dbURL, Options{}))
		}
		return out
	})
}

// Replicas starting together race to migrate one empty database: every
// one must come up, and each migration must be applied once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	pg := sharedPG.Get(t)
	dbURL := pg.NewDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*DB, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenOptions(context.Background(), dbURL, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, _ := migrations("postgres")
	var applied, distinct int
	if err := stores[0].db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != len(ms) || distinct != len(ms) {
		t.Fatalf("schema_migrations holds %d rows (%d versions), want %d", applied, distinct, len(ms))
	}
}

// Names sort bytewise on PostgreSQL as on SQLite, even in a database whose
// locale would sort "a-b" after "aB" and ignore case.
func TestPostgresListOrderIgnoresDatabaseLocale(t *testing.T) {
	pg := sharedPG.Get(t)
	err := pg.Exec(context.Background(), "postgres", `CREATE DATABASE icu_en TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`)
	if err != nil {
		t.Skipf("this PostgreSQL cannot create an ICU database: %v", err)
	}
	s := openT(t, pg.URL("icu_en"), Options{})
	defer s.Close()
	names := []string{"b", "B", "a-c", "ab", "aB", "a_b", "Z"}
	for i, sa := range names {
		x := &pi.Association{ClusterName: "c", AssociationID: fmt.Sprintf("a-%017d", i), Namespace: "ns", ServiceAccount: sa,
			RoleARN: "arn:aws:iam::111122223333:role/r", CreatedAt: time.Now(), ModifiedAt: time.Now()}
		if _, err := s.CreateAssociation(context.Background(), x, 5000, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var after *pi.AssociationKey
	for {
		page, err := s.ListAssociations(context.Background(), pi.AssociationQuery{Cluster: "c", Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.ServiceAccount)
		}
		if len(page) < 2 {
			break
		}
		k := page[len(page)-1].Key()
		after = &k
	}
	want := "B Z a-c aB a_b ab b" // bytewise, as SQLite sorts
	if strings.Join(got, " ") != want {
		t.Fatalf("paged order = %q, want %q", strings.Join(got, " "), want)
	}
}

// The password may be kept out of the URL; a wrong one is refused.
func TestPostgresPasswordOption(t *testing.T) {
	pg := sharedPG.Get(t)
	pg.NewDatabase(t)
	noPassword := pg.URLWithoutPassword("postgres")
	t.Setenv("PGPASSWORD", "") // what the environment may say must not matter here
	s := openT(t, noPassword, Options{Password: pg.Password(), MaxConns: 3, MinConns: 1})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenOptions(context.Background(), noPassword, Options{Password: "wrong"})
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: err = %v; want a failure that does not echo the password", err)
	}
	if _, err := OpenOptions(context.Background(), noPassword, Options{Password: pg.Password(), MaxConns: 2, MinConns: 3}); err == nil {
		t.Fatal("minConns above maxConns was accepted")
	}
}

// Opening a database nobody listens on fails within seconds, not minutes.
func TestPostgresOpenFailsFast(t *testing.T) {
	pg := sharedPG.Get(t) // only for a realistic URL, password included
	u, err := url.Parse(pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1"
	start := time.Now()
	_, err = OpenOptions(context.Background(), u.String(), Options{})
	if err == nil {
		t.Fatal("opened a database on a closed port")
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("Open took %s to fail", d)
	}
	if strings.Contains(err.Error(), pg.Password()) {
		t.Fatalf("error leaks the password: %v", err)
	}
}

// While PostgreSQL is down every operation fails fast with CodeUnavailable,
// and the store recovers by itself once it is back, with nothing lost.
func TestPostgresRestartUnavailableThenRecovers(t *testing.T) {
	for _, mode := range []string{"fast", "immediate"} {
		t.Run(mode, func(t *testing.T) {
			pg := pgtest.Start(t)
			s := openT(t, pg.NewDatabase(t), Options{MinConns: 2})
			defer s.Close()
			ctx := context.Background()
			before := &pi.Association{ClusterName: "c", AssociationID: "a-00000000000000001", Namespace: "ns", ServiceAccount: "before",
				RoleARN: "arn:aws:iam::111122223333:role/r", CreatedAt: time.Now(), ModifiedAt: time.Now()}
			if _, err := s.CreateAssociation(ctx, before, 5000, nil); err != nil {
				t.Fatal(err)
			}
			if mode == "fast" {
				pg.Stop(t)
			} else {
				pg.Crash(t)
			}
			ops := map[string]func() error{
				"ping": func() error { return s.Ping(ctx) },
				"find": func() error { _, err := s.FindAssociation(ctx, "c", before.Key()); return err },
				"list": func() error {
					_, err := s.ListAssociations(ctx, pi.AssociationQuery{Cluster: "c", Limit: 10})
					return err
				},
				"create": func() error {
					x := *before
					x.AssociationID, x.ServiceAccount = "a-00000000000000002", "during"
					_, err := s.CreateAssociation(ctx, &x, 5000, nil)
					return err
				},
				"setting": func() error { _, err := s.SetSettingIfAbsent(ctx, "k", "v"); return err },
			}
			for name, op := range ops {
				for range 2 { // the first use may meet a dead pooled connection, the second a refused connect
					start := time.Now()
					err := op()
					if pi.ErrorCode(err) != pi.CodeUnavailable {
						t.Errorf("%s while down: %v (code %q), want CodeUnavailable", name, err, pi.ErrorCode(err))
					}
					if d := time.Since(start); d > 6*time.Second {
						t.Errorf("%s while down took %s to fail", name, d)
					}
				}
			}
			pg.Resume(t)
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := s.FindAssociation(ctx, "c", before.Key())
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("store did not recover within 15s of the database's return: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for name, op := range ops {
				if name == "create" {
					continue
				}
				if err := op(); err != nil {
					t.Errorf("%s after recovery: %v", name, err)
				}
			}
		})
	}
}

func TestPgTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true}, // admin_shutdown
		{&pgconn.PgError{Code: "57P03"}, true}, // cannot_connect_now
		{&pgconn.PgError{Code: "08006"}, true}, // connection_failure
		{&pgconn.PgError{Code: "53300"}, true}, // too_many_connections
		{&pgconn.PgError{Code: "40001"}, true}, // serialization_failure
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "42P01"}, false}, // undefined_table: a bug, not an outage
		{fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{driver.ErrBadConn, true},
		{errors.New("cannot scan NULL into *string"), false},
	}
	for _, tc := range tests {
		if got := pgTransient(tc.err); got != tc.want {
			t.Errorf("pgTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !postgresFlavor.uniqueViolation(fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "23505"})) {
		t.Error("a wrapped unique_violation is not recognised")
	}
}

func TestReplicasSQLiteFile(t *testing.T) {
	storetest.RunReplicas(t, func(t *testing.T, n int) []pi.Store {
		path := filepath.Join(t.TempDir(), "shared.db")
		var out []pi.Store
		for range n {
			out = append(out, openT(t, "sqlite://"+path, Options{}))
		}
		return out
	})
}

func TestMigrationsPerFlavor(t *testing.T) {
	for _, f := range []string{"sqlite", "postgres"} {
		ms, err := migrations(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.flavor != "" && m.flavor != f {
				t.Errorf("%s runs %s", f, m.name)
			}
		}
	}
	sq, _ := migrations("sqlite")
	pg, _ := migrations("postgres")
	if len(pg) <= len(sq) {
		t.Errorf("postgres has %d migrations, sqlite %d; want postgres's collation migration on top", len(pg), len(sq))
	}
}
