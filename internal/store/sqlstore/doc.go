// Package sqlstore implements podidentity.Store on database/sql. One set of
// queries serves every database; a small flavor describes what differs
// (driver, placeholders, error classification). SQLite (modernc.org/sqlite,
// no cgo) is the embedded default; "memory" is the same SQLite code on an
// in-memory database.
package sqlstore
