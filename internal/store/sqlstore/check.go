package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/podidentity/podidentity/internal/store/storeurl"
)

// Check reports whether the store a storage URL names can be opened,
// changing nothing: no file is created and no migration runs. A SQLite
// file that is not there yet is fine when its directory exists (the server
// creates it); one that is there must open read-only. PostgreSQL must
// answer a connection with the given options.
func Check(ctx context.Context, storage string, opts Options) error {
	u, err := storeurl.Parse(storage)
	switch {
	case errors.Is(err, storeurl.ErrNoFile):
		return fmt.Errorf("storage %q names no file", storage)
	case err != nil:
		return fmt.Errorf("storage %q is not supported (use %s)", storeurl.Redacted(storage), storeurl.Usage)
	case u.Kind == storeurl.Postgres:
		d, err := openPostgres(ctx, storage, opts, false)
		if err != nil {
			return err
		}
		return d.Close()
	case u.Kind == storeurl.Memory:
		return nil
	}
	abs, err := filepath.Abs(u.Path)
	if err != nil {
		return fmt.Errorf("resolving sqlite path %q: %w", u.Path, err)
	}
	if err := sqlitePathProblem(abs, opts.Existing); err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil // not there yet: the server will create it
	}
	return checkSQLiteFile(ctx, abs)
}

// checkSQLiteFile opens an existing SQLite file read-only and reads its
// catalogue, which fails for a file that is not a database.
func checkSQLiteFile(ctx context.Context, abs string) error {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?mode=ro")
	if err != nil {
		return fmt.Errorf("storage: opening %s: %w", abs, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("storage: %s is not a readable SQLite database: %w", abs, err)
	}
	return nil
}
