package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// flavor holds what differs between databases. Queries are written with
// '?' placeholders and rebound for databases that number them.
type flavor struct {
	name            string
	numberedParams  bool                 // $1, $2, ... instead of ?
	uniqueViolation func(err error) bool // a UNIQUE or PRIMARY KEY constraint failed
	transient       func(err error) bool // worth reporting as "unavailable, retry"
	// lock serializes, until tx ends, the transactions that check then
	// write under the same key: a cluster's uniqueness and quota checks, a
	// resource's tag count, an association's read-modify-write, schema
	// migrations. nil where BEGIN already takes a database-wide write lock
	// (SQLite with _txlock=immediate), so nothing can interleave anyway.
	lock func(ctx context.Context, tx *sql.Tx, key string) error
}

// lockKey takes the flavor's lock on key inside tx, if it needs one.
func (f flavor) lockKey(ctx context.Context, tx *sql.Tx, key string) error {
	if f.lock == nil {
		return nil
	}
	return f.lock(ctx, tx, key)
}

var sqliteFlavor = flavor{
	name: "sqlite",
	uniqueViolation: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
	transient: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		// Extended codes keep the primary code in the low byte.
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	},
}

// rebind turns '?' placeholders into $n for flavors that need it. Queries
// here never contain '?' inside string literals.
func (f flavor) rebind(q string) string {
	if !f.numberedParams {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
