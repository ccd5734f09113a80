package sqlstore

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A SQLite path whose directory does not exist says so, before SQLite's
// "unable to open database file (14)".
func TestOpenSQLiteMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := Open(context.Background(), "sqlite://"+filepath.Join(dir, "podidentity.db"))
	if err == nil || !strings.Contains(err.Error(), "the directory "+dir+" of the SQLite file does not exist") {
		t.Fatalf("Open = %v, want an error naming the missing directory", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory was created: %v", err)
	}
}

// Existing refuses to create a database: export and migrate read one.
func TestOpenExistingRefusesMissingFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "typo.db")
	_, err := OpenOptions(ctx, "sqlite://"+path, Options{Existing: true})
	if err == nil || !strings.Contains(err.Error(), "there is no SQLite database at "+path) {
		t.Fatalf("OpenOptions(Existing) = %v, want an error naming the missing file", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a database was created: %v", err)
	}
	s, err := Open(ctx, "sqlite://"+path) // the server creates it
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenOptions(ctx, "sqlite://"+path, Options{Existing: true})
	if err != nil {
		t.Fatalf("OpenOptions(Existing) of an existing database: %v", err)
	}
	s.Close()
}

func TestCheckSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-db")
	if err := os.WriteFile(notDB, []byte("this is no database, just text that is long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.db")
	s, err := Open(ctx, "sqlite://"+good)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tc := range []struct{ storage, want string }{
		{"memory", ""},
		{"sqlite://" + good, ""},
		{"sqlite://" + filepath.Join(dir, "new.db"), ""},
		{"sqlite://" + filepath.Join(dir, "missing", "x.db"), "does not exist"},
		{"sqlite://" + dir, "is a directory"},
		{"sqlite://" + notDB, "is not a readable SQLite database"},
		{"mysql://x", "is not supported"},
	} {
		err := Check(ctx, tc.storage, Options{})
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check(%s) = %v, want %q", tc.storage, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); !os.IsNotExist(err) {
		t.Errorf("Check created the database it checked: %v", err)
	}
}

// Check connects to PostgreSQL without migrating, and a closed port fails.
func TestCheckPostgres(t *testing.T) {
	pg := sharedPG.Get(t)
	db := pg.NewDatabase(t)
	if err := Check(context.Background(), db, Options{}); err != nil {
		t.Fatalf("Check(reachable postgres) = %v", err)
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1"
	err = Check(context.Background(), u.String(), Options{})
	if err == nil || strings.Contains(err.Error(), pg.Password()) {
		t.Fatalf("Check(closed port) = %v, want an error without the password", err)
	}
}
