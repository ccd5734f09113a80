package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

const associationColumns = `association_id, cluster, namespace, service_account, role_arn, target_role_arn,
	external_id, disable_session_tags, policy, owner_arn, created_at, modified_at`

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type rowScanner interface{ Scan(dest ...any) error }

func scanAssociation(r rowScanner) (*podidentity.Association, error) {
	var (
		a                 podidentity.Association
		disable           int
		created, modified int64
	)
	if err := r.Scan(&a.AssociationID, &a.ClusterName, &a.Namespace, &a.ServiceAccount, &a.RoleARN, &a.TargetRoleARN,
		&a.ExternalID, &disable, &a.Policy, &a.OwnerARN, &created, &modified); err != nil {
		return nil, err
	}
	a.DisableSessionTags = disable != 0
	a.CreatedAt = time.UnixMilli(created).UTC()
	a.ModifiedAt = time.UnixMilli(modified).UTC()
	return &a, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func notFound(id string) error {
	return podidentity.Errorf(podidentity.CodeNotFound, "No association found for id: %s.", id)
}

// CreateAssociation implements podidentity.Store.
func (d *DB) CreateAssociation(ctx context.Context, a *podidentity.Association, limit int, idem *podidentity.Idempotency) (*podidentity.Association, error) {
	var out *podidentity.Association
	err := d.inTx(ctx, "create association", func(tx *sql.Tx) error {
		// Taken before the token replay: a retry racing its original
		// (through another replica) waits for it and then replays it.
		if err := d.flavor.lockKey(ctx, tx, "cluster/"+a.ClusterName); err != nil {
			return err
		}
		if idem != nil {
			prev, err := d.replay(ctx, tx, idem)
			if err != nil || prev != nil {
				out = prev
				return err
			}
		}
		var existing string
		err := tx.QueryRowContext(ctx, d.flavor.rebind(`SELECT association_id FROM associations WHERE cluster = ? AND namespace = ? AND service_account = ?`),
			a.ClusterName, a.Namespace, a.ServiceAccount).Scan(&existing)
		switch {
		case err == nil:
			return inUse(a, existing)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if a.IsPattern() {
			// Under the cluster lock: two overlapping patterns created
			// at once cannot both pass.
			patterns, err := d.patternAssociations(ctx, tx, a.ClusterName)
			if err != nil {
				return err
			}
			for i := range patterns {
				if podidentity.Ambiguous(a, &patterns[i]) {
					return ambiguous(a, &patterns[i])
				}
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, d.flavor.rebind(`SELECT COUNT(*) FROM associations WHERE cluster = ?`), a.ClusterName).Scan(&n); err != nil {
			return err
		}
		if n >= limit {
			return podidentity.Errorf(podidentity.CodeLimitExceeded,
				"Cluster %s already has %d pod identity associations, the maximum allowed.", a.ClusterName, limit)
		}
		_, err = tx.ExecContext(ctx, d.flavor.rebind(`INSERT INTO associations (`+associationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.AssociationID, a.ClusterName, a.Namespace, a.ServiceAccount, a.RoleARN, a.TargetRoleARN,
			a.ExternalID, boolInt(a.DisableSessionTags), a.Policy, a.OwnerARN, a.CreatedAt.UnixMilli(), a.ModifiedAt.UnixMilli())
		if err != nil {
			if d.flavor.uniqueViolation(err) {
				// A concurrent create on another connection won the race.
				return podidentity.Errorf(podidentity.CodeInUse, "Association already exists for namespace %s and service account %s in cluster %s.", a.Namespace, a.ServiceAccount, a.ClusterName)
			}
			return err
		}
		if err := d.putTags(ctx, tx, a.AssociationID, a.Tags); err != nil {
			return err
		}
		if err := d.recordToken(ctx, tx, idem, a.AssociationID); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func inUse(a *podidentity.Association, existing string) error {
	return podidentity.Errorf(podidentity.CodeInUse, "Association already exists: %s. Namespace %s and service account %s in cluster %s can have only one association.",
		existing, a.Namespace, a.ServiceAccount, a.ClusterName)
}

func ambiguous(a, other *podidentity.Association) error {
	return podidentity.Errorf(podidentity.CodeInUse, "Association %s (namespace %s, service account %s) has the same rank as this one and matches some of the same service accounts in cluster %s; "+
		"one of them would have to win by chance. Make one more specific, or use exact names.",
		other.AssociationID, other.Namespace, other.ServiceAccount, a.ClusterName)
}

// patternRows selects a cluster's pattern associations. The wildcards are
// parameters: '?' cannot appear in a query text that PostgreSQL's
// placeholders are rebound in. LIKE treats '*' and '?' as plain characters.
const patternRows = `(namespace LIKE ? OR namespace LIKE ? OR service_account LIKE ? OR service_account LIKE ?)`

var patternArgs = []any{"%*%", "%?%", "%*%", "%?%"}

// PatternAssociations implements podidentity.Store.
func (d *DB) PatternAssociations(ctx context.Context, cluster string) ([]podidentity.Association, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	out, err := d.patternAssociations(ctx, d.db, cluster)
	return out, d.classify("list pattern associations", err)
}

// patternAssociations reads the cluster's rows through its index; a
// cluster of 100,000 associations costs a few milliseconds, paid per
// pattern create and per lookup-cache period, never per credential.
func (d *DB) patternAssociations(ctx context.Context, q queryer, cluster string) ([]podidentity.Association, error) {
	rows, err := q.QueryContext(ctx, d.flavor.rebind(`SELECT `+associationColumns+` FROM associations WHERE cluster = ? AND `+patternRows),
		append([]any{cluster}, patternArgs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []podidentity.Association
	for rows.Next() {
		a, err := scanAssociation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// replay returns the association a recorded client token produced, nil when
// the token is new, or a mismatch error when it came with other parameters.
func (d *DB) replay(ctx context.Context, tx *sql.Tx, idem *podidentity.Idempotency) (*podidentity.Association, error) {
	var hash, id string
	err := tx.QueryRowContext(ctx, d.flavor.rebind(`SELECT request_hash, association_id FROM idempotency_tokens WHERE scope = ? AND token = ? AND created_at >= ?`),
		idem.Scope, idem.Token, idemCutoff(idem)).Scan(&hash, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if hash != idem.RequestHash {
		return nil, podidentity.Errorf(podidentity.CodeIdempotencyMismatch,
			"The clientRequestToken was already used with different parameters; use a new token for a different request.")
	}
	return d.getAssociation(ctx, tx, "", id)
}

// idemSweepBatch bounds how many expired tokens one write deletes.
const idemSweepBatch = 1000

// recordToken remembers a client token (if any) with the association its
// request produced, so a retry can be answered with the same result. It
// keeps the table bounded as it goes: expired tokens go, this one's first
// (freeing its key if it was used a day ago) and then at most
// idemSweepBatch others, and the association keeps only its newest
// IdempotencyPerAssociation tokens.
func (d *DB) recordToken(ctx context.Context, tx *sql.Tx, idem *podidentity.Idempotency, associationID string) error {
	if idem == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM idempotency_tokens WHERE scope = ? AND token = ? AND created_at < ?`),
		idem.Scope, idem.Token, idemCutoff(idem)); err != nil {
		return err
	}
	// The created_at index makes this a seek that finds nothing on almost
	// every call. Bounded, because a table that grew without expiry (an
	// upgrade from before it, or a long time without writes) could hold
	// millions of expired rows: deleting them all in the first write would
	// outlast its deadline and fail, and so would every write after it.
	// A batch per write drains such a table as writes come.
	if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM idempotency_tokens WHERE (scope, token) IN (
		SELECT scope, token FROM idempotency_tokens WHERE created_at < ? LIMIT ?)`), idemCutoff(idem), idemSweepBatch); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.flavor.rebind(`INSERT INTO idempotency_tokens (scope, token, request_hash, association_id, created_at) VALUES (?, ?, ?, ?, ?)`),
		idem.Scope, idem.Token, idem.RequestHash, associationID, idem.CreatedAt.UnixMilli()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM idempotency_tokens WHERE association_id = ? AND (scope, token) NOT IN (
		SELECT scope, token FROM idempotency_tokens WHERE association_id = ? ORDER BY created_at DESC, scope DESC, token DESC LIMIT ?)`),
		associationID, associationID, podidentity.IdempotencyPerAssociation)
	return err
}

// idemCutoff is the creation time (Unix ms) before which a token has
// expired, on the clock of the request at hand.
func idemCutoff(idem *podidentity.Idempotency) int64 {
	return idem.CreatedAt.Add(-podidentity.IdempotencyWindow).UnixMilli()
}

// GetAssociation implements podidentity.Store.
func (d *DB) GetAssociation(ctx context.Context, cluster, id string) (*podidentity.Association, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	a, err := d.getAssociation(ctx, d.db, cluster, id)
	return a, d.classify("get association", err)
}

// getAssociation loads an association with its tags; cluster "" matches any.
func (d *DB) getAssociation(ctx context.Context, q queryer, cluster, id string) (*podidentity.Association, error) {
	a, err := scanAssociation(q.QueryRowContext(ctx, d.flavor.rebind(`SELECT `+associationColumns+` FROM associations WHERE association_id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && cluster != "" && a.ClusterName != cluster) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	return d.withTags(ctx, q, a)
}

// withTags fills in a's tags, which are kept under its association id.
func (d *DB) withTags(ctx context.Context, q queryer, a *podidentity.Association) (*podidentity.Association, error) {
	tags, err := d.tags(ctx, q, a.AssociationID)
	if err != nil {
		return nil, err
	}
	a.Tags = tags
	return a, nil
}

// FindAssociation implements podidentity.Store.
func (d *DB) FindAssociation(ctx context.Context, cluster string, key podidentity.AssociationKey) (*podidentity.Association, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	a, err := scanAssociation(d.db.QueryRowContext(ctx, d.flavor.rebind(`SELECT `+associationColumns+` FROM associations WHERE cluster = ? AND namespace = ? AND service_account = ?`),
		cluster, key.Namespace, key.ServiceAccount))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, podidentity.Errorf(podidentity.CodeNotFound, "No pod identity association found for service account %s in namespace %s of cluster %s.", key.ServiceAccount, key.Namespace, cluster)
	}
	if err != nil {
		return nil, d.classify("find association", err)
	}
	return a, nil
}

// ListAssociations implements podidentity.Store.
func (d *DB) ListAssociations(ctx context.Context, q podidentity.AssociationQuery) ([]podidentity.Association, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	var (
		where = []string{"cluster = ?"}
		args  = []any{q.Cluster}
	)
	if q.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.ServiceAccount != "" {
		where = append(where, "service_account = ?")
		args = append(args, q.ServiceAccount)
	}
	if q.After != nil {
		// Keyset pagination on the unique (namespace, service_account).
		// A row-value comparison, which both databases turn into a seek
		// on the unique index; the equivalent OR form made PostgreSQL
		// filter from the start of the cluster on every page.
		where = append(where, "(namespace, service_account) > (?, ?)")
		args = append(args, q.After.Namespace, q.After.ServiceAccount)
	}
	args = append(args, q.Limit)
	rows, err := d.db.QueryContext(ctx, d.flavor.rebind(`SELECT `+associationColumns+` FROM associations WHERE `+strings.Join(where, " AND ")+
		` ORDER BY namespace, service_account LIMIT ?`), args...)
	if err != nil {
		return nil, d.classify("list associations", err)
	}
	defer rows.Close()
	var out []podidentity.Association
	for rows.Next() {
		a, err := scanAssociation(rows)
		if err != nil {
			return nil, d.classify("list associations", err)
		}
		out = append(out, *a)
	}
	return out, d.classify("list associations", rows.Err())
}

// UpdateAssociation implements podidentity.Store.
func (d *DB) UpdateAssociation(ctx context.Context, cluster, id string, idem *podidentity.Idempotency, change func(*podidentity.Association) error) (*podidentity.Association, error) {
	var out *podidentity.Association
	err := d.inTx(ctx, "update association", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "resource/"+id); err != nil {
			return err
		}
		a, err := d.getAssociation(ctx, tx, cluster, id)
		if err != nil {
			return err
		}
		if idem != nil {
			prev, err := d.replay(ctx, tx, idem)
			if err != nil || prev != nil {
				out = prev
				return err
			}
		}
		if err := change(a); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, d.flavor.rebind(`UPDATE associations SET role_arn = ?, target_role_arn = ?, external_id = ?,
			disable_session_tags = ?, policy = ?, modified_at = ? WHERE association_id = ?`),
			a.RoleARN, a.TargetRoleARN, a.ExternalID, boolInt(a.DisableSessionTags), a.Policy, a.ModifiedAt.UnixMilli(), id)
		if err != nil {
			return err
		}
		if err := d.recordToken(ctx, tx, idem, id); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAssociation implements podidentity.Store.
func (d *DB) DeleteAssociation(ctx context.Context, cluster, id string) (*podidentity.Association, error) {
	var out *podidentity.Association
	err := d.inTx(ctx, "delete association", func(tx *sql.Tx) error {
		if err := d.flavor.lockKey(ctx, tx, "resource/"+id); err != nil {
			return err
		}
		a, err := d.getAssociation(ctx, tx, cluster, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM tags WHERE resource = ?`), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.flavor.rebind(`DELETE FROM associations WHERE association_id = ?`), id); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
