// Package storeurl owns the grammar of storage URLs, the one string that
// says where the server keeps its associations. The configuration checks
// it and the store opens it with this one parser, so a URL the
// configuration accepts is one the store can open.
package storeurl

import (
	"errors"
	"net/url"
	"strings"
)

// Kind is the sort of store a URL names.
type Kind int

// The stores a URL can name.
const (
	Memory   Kind = iota + 1 // "memory": SQLite in memory, gone when the process exits
	SQLite                   // sqlite:///abs/path.db or sqlite://relative.db
	Postgres                 // postgres://... or postgresql://...
)

// Usage lists the accepted forms, for error messages.
const Usage = "sqlite:///abs/path.db, sqlite://relative.db, postgres://... or memory"

var (
	// ErrUnsupported is a URL of none of the accepted forms.
	ErrUnsupported = errors.New("storage URL of no supported form (" + Usage + ")")
	// ErrNoFile is a sqlite:// URL without a file.
	ErrNoFile = errors.New("storage URL names no database file")
)

// URL is a parsed storage URL.
type URL struct {
	Kind Kind
	// Path is the SQLite file, absolute or relative to the working
	// directory; empty for other kinds.
	Path string
}

// Parse classifies a storage URL. It does not parse a PostgreSQL URL's
// parts: the driver does, with rules of its own.
func Parse(s string) (URL, error) {
	switch {
	case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
		return URL{Kind: Postgres}, nil
	case s == "memory":
		return URL{Kind: Memory}, nil
	case strings.HasPrefix(s, "sqlite://"):
		path := strings.TrimPrefix(s, "sqlite://")
		if path == "" {
			return URL{}, ErrNoFile
		}
		return URL{Kind: SQLite, Path: path}, nil
	}
	return URL{}, ErrUnsupported
}

// Redacted is s fit for a log line or an error message: the password a
// PostgreSQL URL may carry is masked, and a URL too malformed to find the
// password in is not shown at all. SQLite paths carry none and are shown
// as they are.
func Redacted(s string) string {
	if k, err := Parse(s); err == nil && k.Kind != Postgres {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil {
		return s
	}
	return u.Redacted()
}
