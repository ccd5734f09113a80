package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// Bulk access for `podidentity export/import/migrate` and for test and
// benchmark fixtures. It goes around the Service's rules on purpose: the
// rows come from another podidentity store, where they were validated.

// loadBatch is how many associations go into one multi-row INSERT: 12
// parameters each stays far below both databases' parameter limits.
const loadBatch = 500

// Loader writes associations, tags and settings in one transaction. An
// association already present with the same id and the same values is
// skipped, so a migration can be rerun; anything else already holding its
// id or its (cluster, namespace, service account) is a conflict that fails
// the load. Quotas are not checked. On the in-memory store, other calls
// wait until the Loader commits or rolls back.
type Loader struct {
	d        *DB
	ctx      context.Context
	tx       *sql.Tx
	pending  []*podidentity.Association
	clusters map[string]bool // clusters whose lock this load holds
	stats    LoadStats
	done     bool
}

// LoadStats counts what a Loader did.
type LoadStats struct {
	Inserted       int      // associations written
	Skipped        int      // associations already present, identical
	Tags           int      // tags written (of associations and other resources)
	Settings       int      // settings written
	SettingsKept   int      // settings the target already had, with the same value
	SettingsDiffer []string // settings the target already had with another value, which it keeps
}

// NewLoader begins a load. Call Commit or Rollback.
func (d *DB) NewLoader(ctx context.Context) (*Loader, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, d.classify("load: begin", err)
	}
	// One load at a time: loads lock clusters as they meet them, and two
	// loads meeting clusters in different orders could deadlock.
	if err := d.flavor.lockKey(ctx, tx, "load"); err != nil {
		tx.Rollback()
		return nil, d.classify("load: lock", err)
	}
	return &Loader{d: d, ctx: ctx, tx: tx, clusters: map[string]bool{}}, nil
}

// Association queues a for insertion with its tags.
func (l *Loader) Association(a *podidentity.Association) error {
	if l.done {
		return errors.New("load: already finished")
	}
	c := *a
	c.Tags = maps.Clone(a.Tags)
	l.pending = append(l.pending, &c)
	if len(l.pending) >= loadBatch {
		return l.flush()
	}
	return nil
}

// ResourceTags merges tags into a resource's tags (a cluster's:
// "cluster/NAME").
func (l *Loader) ResourceTags(resource string, tags map[string]string) error {
	if err := l.flush(); err != nil {
		return err
	}
	if err := l.d.flavor.lockKey(l.ctx, l.tx, "resource/"+resource); err != nil {
		return l.fail("tags", err)
	}
	var rows []tagRow
	for _, k := range sortedKeys(tags) {
		if _, err := l.tx.ExecContext(l.ctx, l.d.flavor.rebind(`DELETE FROM tags WHERE resource = ? AND tag_key = ?`), resource, k); err != nil {
			return l.fail("tags", err)
		}
		rows = append(rows, tagRow{resource, k, tags[k]})
	}
	return l.insertTags(rows)
}

// Setting stores a setting unless the target has it already; it returns
// the value stored after the call.
func (l *Loader) Setting(key, value string) (string, error) {
	var stored string
	err := l.tx.QueryRowContext(l.ctx, l.d.flavor.rebind(`SELECT value FROM settings WHERE name = ?`), key).Scan(&stored)
	switch {
	case err == nil:
		if stored == value {
			l.stats.SettingsKept++
		} else {
			l.stats.SettingsDiffer = append(l.stats.SettingsDiffer, key)
		}
		return stored, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", l.fail("settings", err)
	}
	if _, err := l.tx.ExecContext(l.ctx, l.d.flavor.rebind(`INSERT INTO settings (name, value) VALUES (?, ?)`), key, value); err != nil {
		return "", l.fail("settings", err)
	}
	l.stats.Settings++
	return value, nil
}

// Commit writes what is queued and commits the load.
func (l *Loader) Commit() (LoadStats, error) {
	if err := l.flush(); err != nil {
		l.Rollback()
		return l.stats, err
	}
	l.done = true
	if err := l.tx.Commit(); err != nil {
		return l.stats, l.d.classify("load: commit", err)
	}
	return l.stats, nil
}

// Rollback abandons the load; after Commit it does nothing.
func (l *Loader) Rollback() {
	if !l.done {
		l.done = true
		l.tx.Rollback()
	}
}

func (l *Loader) fail(what string, err error) error {
	if _, ok := err.(*podidentity.Error); ok {
		return err
	}
	return l.d.classify("load "+what, err)
}

// flush inserts the queued associations: it first finds which are
// present already (skipped when identical) and which collide with another
// association, so that a conflict is reported by name rather than as a
// constraint violation somewhere in a 500-row statement.
func (l *Loader) flush() error {
	if len(l.pending) == 0 || l.done {
		return nil
	}
	batch := l.pending
	l.pending = nil
	existing, err := l.existingByID(batch)
	if err != nil {
		return l.fail("associations", err)
	}
	var fresh []*podidentity.Association
	for _, a := range batch {
		if old, ok := existing[a.AssociationID]; ok {
			if !sameAssociation(old, a) {
				return podidentity.Errorf(podidentity.CodeInUse,
					"association %s already exists in the target with different values (cluster %s, namespace %s, service account %s)",
					a.AssociationID, old.ClusterName, old.Namespace, old.ServiceAccount)
			}
			l.stats.Skipped++
			continue
		}
		fresh = append(fresh, a)
	}
	if len(fresh) == 0 {
		return nil
	}
	// Hold each cluster's lock for the rest of the load, as a create does,
	// so that a server writing meanwhile cannot take a service account
	// between the check below and the insert.
	for _, a := range fresh {
		if !l.clusters[a.ClusterName] {
			if err := l.d.flavor.lockKey(l.ctx, l.tx, "cluster/"+a.ClusterName); err != nil {
				return l.fail("associations", err)
			}
			l.clusters[a.ClusterName] = true
		}
	}
	if err := l.checkKeys(fresh); err != nil {
		return err
	}
	args := make([]any, 0, len(fresh)*12)
	rows := make([]string, 0, len(fresh))
	for _, a := range fresh {
		rows = append(rows, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, a.AssociationID, a.ClusterName, a.Namespace, a.ServiceAccount, a.RoleARN, a.TargetRoleARN,
			a.ExternalID, boolInt(a.DisableSessionTags), a.Policy, a.OwnerARN, a.CreatedAt.UnixMilli(), a.ModifiedAt.UnixMilli())
	}
	q := `INSERT INTO associations (` + associationColumns + `) VALUES ` + strings.Join(rows, ", ")
	if _, err := l.tx.ExecContext(l.ctx, l.d.flavor.rebind(q), args...); err != nil {
		if l.d.flavor.uniqueViolation(err) {
			return podidentity.Errorf(podidentity.CodeInUse, "the input holds an association id, or a cluster's namespace and service account, twice")
		}
		return l.fail("associations", err)
	}
	l.stats.Inserted += len(fresh)
	var tags []tagRow
	for _, a := range fresh {
		for _, k := range sortedKeys(a.Tags) {
			tags = append(tags, tagRow{a.AssociationID, k, a.Tags[k]})
		}
	}
	return l.insertTags(tags)
}

type tagRow struct{ resource, key, value string }

func (l *Loader) existingByID(batch []*podidentity.Association) (map[string]*podidentity.Association, error) {
	args := make([]any, len(batch))
	for i, a := range batch {
		args[i] = a.AssociationID
	}
	rows, err := l.tx.QueryContext(l.ctx, l.d.flavor.rebind(`SELECT `+associationColumns+` FROM associations WHERE association_id IN (`+placeholders(len(batch))+`)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*podidentity.Association{}
	for rows.Next() {
		a, err := scanAssociation(rows)
		if err != nil {
			return nil, err
		}
		out[a.AssociationID] = a
	}
	return out, rows.Err()
}

// checkKeys fails when another association holds the service account of
// one in fresh.
func (l *Loader) checkKeys(fresh []*podidentity.Association) error {
	conds := make([]string, len(fresh))
	args := make([]any, 0, 3*len(fresh))
	for i, a := range fresh {
		conds[i] = "(cluster = ? AND namespace = ? AND service_account = ?)"
		args = append(args, a.ClusterName, a.Namespace, a.ServiceAccount)
	}
	var id, cluster, ns, sa string
	err := l.tx.QueryRowContext(l.ctx, l.d.flavor.rebind(`SELECT association_id, cluster, namespace, service_account FROM associations WHERE `+
		strings.Join(conds, " OR ")+` LIMIT 1`), args...).Scan(&id, &cluster, &ns, &sa)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return l.fail("associations", err)
	}
	return podidentity.Errorf(podidentity.CodeInUse,
		"the target already has association %s for namespace %s and service account %s in cluster %s", id, ns, sa, cluster)
}

// insertTags writes tag rows in multi-row INSERTs of up to 1,000 rows.
func (l *Loader) insertTags(tags []tagRow) error {
	for len(tags) > 0 {
		n := min(len(tags), 1000)
		rows := make([]string, n)
		args := make([]any, 0, 3*n)
		for i, t := range tags[:n] {
			rows[i] = "(?, ?, ?)"
			args = append(args, t.resource, t.key, t.value)
		}
		if _, err := l.tx.ExecContext(l.ctx, l.d.flavor.rebind(`INSERT INTO tags (resource, tag_key, tag_value) VALUES `+strings.Join(rows, ", ")), args...); err != nil {
			return l.fail("tags", err)
		}
		l.stats.Tags += n
		tags = tags[n:]
	}
	return nil
}

func sameAssociation(a, b *podidentity.Association) bool {
	return a.AssociationID == b.AssociationID && a.ClusterName == b.ClusterName && a.Namespace == b.Namespace &&
		a.ServiceAccount == b.ServiceAccount && a.RoleARN == b.RoleARN && a.TargetRoleARN == b.TargetRoleARN &&
		a.ExternalID == b.ExternalID && a.DisableSessionTags == b.DisableSessionTags && a.Policy == b.Policy &&
		a.OwnerARN == b.OwnerARN && a.CreatedAt.UnixMilli() == b.CreatedAt.UnixMilli() && a.ModifiedAt.UnixMilli() == b.ModifiedAt.UnixMilli()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LoadAssociations inserts associations with their tags in one
// transaction, with the Loader's rules. Test fixtures use it to fill a
// cluster quickly.
func (d *DB) LoadAssociations(ctx context.Context, as []podidentity.Association) error {
	l, err := d.NewLoader(ctx)
	if err != nil {
		return err
	}
	defer l.Rollback()
	for i := range as {
		if err := l.Association(&as[i]); err != nil {
			return err
		}
	}
	_, err = l.Commit()
	return err
}

// exportPage is how many associations EachAssociation reads per query.
const exportPage = 1000

// EachAssociation calls fn with every association of every cluster, tags
// included, ordered by cluster, namespace and service account. It reads in
// keyset pages, not in one snapshot: an association that exists throughout
// is seen exactly once; one created or deleted meanwhile may or may not be.
func (d *DB) EachAssociation(ctx context.Context, fn func(*podidentity.Association) error) error {
	var (
		where string
		args  []any
	)
	for {
		page, err := d.exportPage(ctx, where, args)
		if err != nil {
			return err
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		// Keyset on the unique key; both databases compare row values
		// and walk the unique index with it.
		last := page[len(page)-1]
		where = ` WHERE (cluster, namespace, service_account) > (?, ?, ?)`
		args = []any{last.ClusterName, last.Namespace, last.ServiceAccount}
	}
}

func (d *DB) exportPage(ctx context.Context, where string, args []any) ([]*podidentity.Association, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, d.flavor.rebind(`SELECT `+associationColumns+` FROM associations`+where+
		fmt.Sprintf(` ORDER BY cluster, namespace, service_account LIMIT %d`, exportPage)), args...)
	if err != nil {
		return nil, d.classify("export associations", err)
	}
	var page []*podidentity.Association
	byID := map[string]*podidentity.Association{}
	for rows.Next() {
		a, err := scanAssociation(rows)
		if err != nil {
			rows.Close()
			return nil, d.classify("export associations", err)
		}
		a.Tags = map[string]string{}
		page = append(page, a)
		byID[a.AssociationID] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, d.classify("export associations", err)
	}
	if len(page) == 0 {
		return nil, nil
	}
	ids := make([]any, len(page))
	for i, a := range page {
		ids[i] = a.AssociationID
	}
	trows, err := d.db.QueryContext(ctx, d.flavor.rebind(`SELECT resource, tag_key, tag_value FROM tags WHERE resource IN (`+placeholders(len(ids))+`)`), ids...)
	if err != nil {
		return nil, d.classify("export tags", err)
	}
	defer trows.Close()
	for trows.Next() {
		var r, k, v string
		if err := trows.Scan(&r, &k, &v); err != nil {
			return nil, d.classify("export tags", err)
		}
		byID[r].Tags[k] = v
	}
	return page, d.classify("export tags", trows.Err())
}

// ResourceTags returns the tags of every resource that is not an
// association (clusters, "cluster/NAME").
func (d *DB) ResourceTags(ctx context.Context) (map[string]map[string]string, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, `SELECT resource, tag_key, tag_value FROM tags
		WHERE resource NOT IN (SELECT association_id FROM associations) ORDER BY resource, tag_key`)
	if err != nil {
		return nil, d.classify("export resource tags", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var r, k, v string
		if err := rows.Scan(&r, &k, &v); err != nil {
			return nil, d.classify("export resource tags", err)
		}
		if out[r] == nil {
			out[r] = map[string]string{}
		}
		out[r][k] = v
	}
	return out, d.classify("export resource tags", rows.Err())
}

// Settings returns every server setting.
func (d *DB) Settings(ctx context.Context) (map[string]string, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	rows, err := d.db.QueryContext(ctx, `SELECT name, value FROM settings ORDER BY name`)
	if err != nil {
		return nil, d.classify("export settings", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, d.classify("export settings", err)
		}
		out[k] = v
	}
	return out, d.classify("export settings", rows.Err())
}
