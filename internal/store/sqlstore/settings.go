package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// Setting implements podidentity.Store.
func (d *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	var v string
	err := d.db.QueryRowContext(ctx, d.flavor.rebind(`SELECT value FROM settings WHERE name = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, d.classify("read setting", err)
	}
	return v, true, nil
}

// SetSettingIfAbsent implements podidentity.Store.
func (d *DB) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := d.inTx(ctx, "write setting", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "setting/"+key); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, d.flavor.rebind(`SELECT value FROM settings WHERE name = ?`), key).Scan(&stored)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		stored = value
		_, err = tx.ExecContext(ctx, d.flavor.rebind(`INSERT INTO settings (name, value) VALUES (?, ?)`), key, value)
		return err
	})
	if err != nil && d.flavor.uniqueViolation(errors.Unwrap(err)) {
		// Another replica initialised it first: theirs wins.
		v, _, err := d.Setting(ctx, key)
		return v, err
	}
	return stored, err
}
