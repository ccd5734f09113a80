package sqlstore

import (
	"context"
	"database/sql"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// Tags implements podidentity.Store.
func (d *DB) Tags(ctx context.Context, resource string) (map[string]string, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	tags, err := d.tags(ctx, d.db, resource)
	return tags, d.classify("list tags", err)
}

func (d *DB) tags(ctx context.Context, q queryer, resource string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, d.flavor.rebind(`SELECT tag_key, tag_value FROM tags WHERE resource = ?`), resource)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tags := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		tags[k] = v
	}
	return tags, rows.Err()
}

func (d *DB) putTags(ctx context.Context, tx *sql.Tx, resource string, tags map[string]string) error {
	for k, v := range tags {
		// Delete then insert: an upsert spelled the same on every flavor.
		if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM tags WHERE resource = ? AND tag_key = ?`), resource, k); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.flavor.rebind(`INSERT INTO tags (resource, tag_key, tag_value) VALUES (?, ?, ?)`), resource, k, v); err != nil {
			return err
		}
	}
	return nil
}

// TagResource implements podidentity.Store.
func (d *DB) TagResource(ctx context.Context, resource string, tags map[string]string, maxTags int) error {
	return d.inTx(ctx, "tag resource", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "resource/"+resource); err != nil {
			return err
		}
		current, err := d.tags(ctx, tx, resource)
		if err != nil {
			return err
		}
		n := len(current)
		for k := range tags {
			if _, ok := current[k]; !ok {
				n++
			}
		}
		if n > maxTags {
			return podidentity.Errorf(podidentity.CodeInvalidParameter, "a resource can have at most %d tags; this request would give it %d", maxTags, n)
		}
		return d.putTags(ctx, tx, resource, tags)
	})
}

// UntagResource implements podidentity.Store.
func (d *DB) UntagResource(ctx context.Context, resource string, keys []string) error {
	return d.inTx(ctx, "untag resource", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "resource/"+resource); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM tags WHERE resource = ? AND tag_key = ?`), resource, k); err != nil {
				return err
			}
		}
		return nil
	})
}
