package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	flavor  string // "" = every flavor
	sql     string
}

// migrations returns the embedded migrations for a flavor in version order.
// Files are named NNNN_description.sql, or NNNN_description.FLAVOR.sql for
// a migration only that flavor runs (what one database needs and the other
// cannot spell, such as PostgreSQL's column collations). A version is never
// edited once released, and is never used twice within a flavor.
func migrations(flavorName string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(rest, ".sql") {
			return nil, fmt.Errorf("migration %q is not named NNNN_name.sql or NNNN_name.FLAVOR.sql", e.Name())
		}
		only := ""
		if base := strings.TrimSuffix(rest, ".sql"); strings.Contains(base, ".") {
			only = base[strings.LastIndex(base, ".")+1:]
			if only != sqliteFlavor.name && only != postgresFlavor.name {
				return nil, fmt.Errorf("migration %q names an unknown flavor %q", e.Name(), only)
			}
		}
		if only != "" && only != flavorName {
			continue
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), flavor: only, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies every migration newer than the database's version, each
// in its own transaction with its version record. Each transaction first
// takes the "migrations" lock, so replicas starting together against one
// PostgreSQL database apply each migration exactly once: the others wait,
// then find it recorded. Only ctx bounds it, not the operation deadline: a
// migration may rewrite a large table.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrations(d.flavor.name)
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	err = d.tx(ctx, "migrate", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "migrations"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := d.tx(ctx, "migrate", func(tx *sql.Tx) error {
			if err := d.flavor.lockKey(ctx, tx, "migrations"); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, d.flavor.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("applying %s: %w", m.name, err)
			}
			_, err := tx.ExecContext(ctx, d.flavor.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
