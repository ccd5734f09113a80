// Package sqlstore implements podidentity.Store on database/sql. One set of
// queries serves every database; a small flavor describes what differs
// (driver, placeholders, error classification, locking). SQLite
// (modernc.org/sqlite, no cgo) is the embedded default; "memory" is the
// same SQLite code on an in-memory database; PostgreSQL (pgx's database/sql
// driver over a pgx pool) lets several server replicas share one database.
// Bulk access (Loader, EachAssociation) serves export, import and
// migration between databases.
package sqlstore
