package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/storeurl"
)

// DB is a podidentity.Store on a SQL database.
type DB struct {
	db     *sql.DB
	flavor flavor
	// opTimeout bounds each operation, lock waits included; 0: none
	// (SQLite bounds its waits with busy_timeout).
	opTimeout  time.Duration
	closeExtra func() error // releases what db sits on (the pgx pool)
}

// Options tune a store beyond what its URL says. Zero values mean the
// defaults; SQLite ignores them.
type Options struct {
	// Password is PostgreSQL's password when it is kept out of the URL
	// (read from a file or the environment by the caller).
	Password string
	// MaxConns and MinConns size the PostgreSQL connection pool (defaults:
	// pgxpool's, the larger of 4 and the number of CPUs, and 0).
	MaxConns, MinConns int
	// ConnectTimeout bounds opening one connection (default 5s, or the
	// URL's connect_timeout), so requests fail fast while the database is
	// unreachable.
	ConnectTimeout time.Duration
	// OpTimeout bounds one store operation, lock waits included
	// (PostgreSQL only; default 10s).
	OpTimeout time.Duration
	// Existing refuses to create a SQLite file that is not there: a store
	// read from (export, migrate's source) must not be conjured up empty by
	// a typo in its path, and the command then report success.
	Existing bool
}

var _ podidentity.Store = (*DB)(nil)

// Open opens the store a storage URL names, with default Options, and
// brings its schema up to date.
func Open(ctx context.Context, storage string) (*DB, error) {
	return OpenOptions(ctx, storage, Options{})
}

// OpenOptions opens the store a storage URL names and brings its schema up
// to date:
//
//	sqlite:///abs/path.db   SQLite file at an absolute path
//	sqlite://relative.db    SQLite file relative to the working directory
//	memory                  SQLite in memory, gone when the process exits
//	postgres://user@host:5432/db?sslmode=verify-full   PostgreSQL (also postgresql://)
//
// Replicas may open one PostgreSQL database at the same time: migrations
// run under an advisory lock, so exactly one applies each.
func OpenOptions(ctx context.Context, storage string, opts Options) (*DB, error) {
	u, err := storeurl.Parse(storage)
	switch {
	case errors.Is(err, storeurl.ErrNoFile):
		return nil, fmt.Errorf("storage %q names no file", storage)
	case err != nil:
		return nil, fmt.Errorf("storage %q is not supported (use %s)", storeurl.Redacted(storage), storeurl.Usage)
	case u.Kind == storeurl.Postgres:
		return openPostgres(ctx, storage, opts, true)
	case u.Kind == storeurl.Memory:
		return openSQLite(ctx, "", true, false)
	}
	return openSQLite(ctx, u.Path, false, opts.Existing)
}

func openSQLite(ctx context.Context, path string, memory, existing bool) (*DB, error) {
	// WAL lets readers run beside the writer; synchronous=FULL makes every
	// acknowledged commit survive a crash or power loss; busy_timeout makes
	// writers queue instead of failing; _txlock=immediate takes the write
	// lock at BEGIN, so read-then-write transactions (uniqueness and quota
	// checks) cannot interleave.
	params := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	var dsn string
	if memory {
		dsn = "file::memory:?" + params
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("resolving sqlite path %q: %w", path, err)
		}
		if err := sqlitePathProblem(abs, existing); err != nil {
			return nil, err
		}
		dsn = "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + params +
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	}
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite: %w", err)
	}
	if memory {
		// Every connection to :memory: is a separate database: keep
		// exactly one, and never let it be closed for idleness.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxIdleTime(0)
		sqlDB.SetConnMaxLifetime(0)
	} else {
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	d := &DB{db: sqlDB, flavor: sqliteFlavor}
	if err := d.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return d, nil
}

// sqlitePathProblem says, in the operator's terms, why a SQLite file
// cannot be opened, before SQLite says "unable to open database file (14)".
func sqlitePathProblem(abs string, existing bool) error {
	dir := filepath.Dir(abs)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s of the SQLite file does not exist; create it or point storage at another path", dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s, where the SQLite file should be, is not a directory", dir)
	}
	switch st, err := os.Stat(abs); {
	case errors.Is(err, fs.ErrNotExist) && existing:
		return fmt.Errorf("there is no SQLite database at %s (check the path; nothing was created)", abs)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not a SQLite file", abs)
	}
	return nil
}

// bound applies the store's per-operation deadline to ctx.
func (d *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.opTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.opTimeout)
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	if err := d.db.PingContext(ctx); err != nil {
		return podidentity.Unavailable(err)
	}
	var one int
	if err := d.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return podidentity.Unavailable(err)
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error {
	err := d.db.Close()
	if d.closeExtra != nil {
		if cerr := d.closeExtra(); err == nil {
			err = cerr
		}
	}
	return err
}

// classify turns a database error into a domain error: transient failures
// are retryable, anything else is internal.
func (d *DB) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*podidentity.Error); ok {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	if d.flavor.transient(err) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return podidentity.Unavailable(wrapped)
	}
	return podidentity.Internal(wrapped)
}

// inTx runs fn in a transaction bounded by the operation deadline,
// committing when it returns nil.
func (d *DB) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.tx(ctx, op, fn)
}

// tx runs fn in a transaction, committing when it returns nil.
func (d *DB) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.classify(op+": begin", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return d.classify(op, err)
	}
	if err := tx.Commit(); err != nil {
		return d.classify(op+": commit", err)
	}
	return nil
}
