package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/podidentity/podidentity/internal/store/storeurl"
)

// Check reports whether the store a storage URL names can be opened,
// changing nothing: no file is created and no migration runs. A SQLite
// file that is not there yet is fine when its directory exists (the server
// creates it); one that is there must open read-only. PostgreSQL must
// answer a connection with the given options.
func Check(ctx context.Context, storage string, opts Options) error {
	switch {
	case strings.HasPrefix(storage, "postgres://") || strings.HasPrefix(storage, "postgresql://"):
		d, err := openPostgres(ctx, storage, opts, false)
		if err != nil {
			return err
		}
		return d.Close()
	case storage == "memory":
		return nil
	case strings.HasPrefix(storage, "sqlite://"):
		path := strings.TrimPrefix(storage, "sqlite://")
		if path == "" {
			return fmt.Errorf("storage %q names no file", storage)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("resolving sqlite path %q: %w", path, err)
		}
		if err := sqlitePathProblem(abs, opts.Existing); err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil // not there yet: the server will create it
		}
		return checkSQLiteFile(ctx, abs)
	}
	return fmt.Errorf("storage %q is not supported (use sqlite:///abs/path.db, sqlite://relative.db, postgres://... or memory)", storeurl.Redacted(storage))
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
