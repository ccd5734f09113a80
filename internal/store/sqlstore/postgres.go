package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/podidentity/podidentity/internal/store/storeurl"
)

// PostgreSQL runs the same queries as SQLite through pgx's database/sql
// driver. What differs is here: numbered placeholders, SQLSTATE
// classification, and advisory locks where SQLite's single writer made
// check-then-write transactions safe on its own.
//
// Why advisory locks rather than SERIALIZABLE: a create reads a predicate
// (the cluster's count, the service account's row) and then inserts, so
// under SERIALIZABLE every concurrent create in a cluster would conflict
// and one of them fail with 40001, to be retried by a loop around every
// write path. A transaction-scoped advisory lock per cluster makes the
// second create wait a few milliseconds instead, never fails for
// contention, lets creates in different clusters run in parallel, and is
// released by PostgreSQL when the transaction ends, also when a replica
// dies holding it. Waiting is bounded by the operation's deadline.
var postgresFlavor = flavor{
	name:           "postgres",
	numberedParams: true,
	uniqueViolation: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	},
	transient: pgTransient,
	lock: func(ctx context.Context, tx *sql.Tx, key string) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLockID(key))
		return err
	},
}

// advisoryLockID maps a lock key to PostgreSQL's 64-bit advisory lock
// space. Every replica computes the same id; a collision between two keys
// only makes them wait for each other.
func advisoryLockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("podidentity/"))
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// pgTransient reports failures a client may retry: the database is
// unreachable, restarting, shutting down, out of connections, or a
// transaction lost a conflict.
func pgTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources: too many connections, disk full
			strings.HasPrefix(pgErr.Code, "57P"), // admin_shutdown, crash_shutdown, cannot_connect_now
			pgErr.Code == "40001",                // serialization_failure
			pgErr.Code == "40P01",                // deadlock_detected
			pgErr.Code == "55P03",                // lock_not_available
			pgErr.Code == "57014",                // query_canceled (statement_timeout)
			pgErr.Code == "25006":                // read_only_sql_transaction: a standby after failover
			return true
		}
		return false
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Defaults for PostgreSQL that the URL and Options may override.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultOpTimeout      = 10 * time.Second
)

func openPostgres(ctx context.Context, storage string, opts Options, migrate bool) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(storage)
	if err != nil {
		// pgx masks the password in its message.
		return nil, fmt.Errorf("storage: %w", err)
	}
	if opts.Password != "" {
		cfg.ConnConfig.Password = opts.Password
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	if opts.MinConns > 0 {
		cfg.MinConns = int32(opts.MinConns)
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("storage: minConns %d exceeds maxConns %d", cfg.MinConns, cfg.MaxConns)
	}
	// Fail fast: an unreachable database must turn into a retryable error
	// for the client within seconds, not hang its request.
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.PingTimeout = cfg.ConnConfig.ConnectTimeout
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "podidentity"
	}
	opTimeout := opts.OpTimeout
	if opTimeout == 0 {
		opTimeout = defaultOpTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening postgres: %w", err)
	}
	// database/sql over the pgx pool: one set of queries for every flavor,
	// while pgxpool keeps MinConns warm and health-checks idle connections.
	sqlDB := stdlib.OpenDBFromPool(pool)
	d := &DB{db: sqlDB, flavor: postgresFlavor, opTimeout: opTimeout, closeExtra: func() error { pool.Close(); return nil }}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := sqlDB.PingContext(mctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("connecting to postgres %s: %w", storeurl.Redacted(storage), err)
	}
	if !migrate {
		return d, nil
	}
	if err := d.migrate(mctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
