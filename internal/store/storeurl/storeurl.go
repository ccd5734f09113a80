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
// PostgreSQL URL may carry, in its user part or as a query parameter
// (password=, sslpassword=, which pgx reads too), is masked; a value of no
// supported form shows only its scheme, and one too malformed to find a
// password in is not shown at all. SQLite paths carry none and are shown
// as they are.
func Redacted(s string) string {
	k, err := Parse(s)
	if err == nil && k.Kind != Postgres {
		return s
	}
	u, perr := url.Parse(s)
	switch {
	case perr != nil || u.Scheme == "" || u.Opaque != "":
		return "(not shown: a value of no URL form may hold a password)"
	case err != nil:
		return u.Scheme + "://(rest not shown)"
	case u.User == nil && strings.Contains(s, "@") || u.Fragment != "":
		// A password holding '/', '?' or '#' splits the URL before its
		// '@', and lands in the path, query or fragment unmasked.
		return u.Scheme + "://(rest not shown: it may hold a password)"
	}
	if q, qerr := url.ParseQuery(u.RawQuery); qerr != nil {
		u.RawQuery = "(query not shown)"
	} else if maskPasswords(q) {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// maskPasswords replaces every password-like parameter's value, and says
// whether there was one.
func maskPasswords(q url.Values) bool {
	masked := false
	for key, vals := range q {
		if strings.Contains(strings.ToLower(key), "password") {
			for i := range vals {
				vals[i] = "xxxxx"
			}
			masked = true
		}
	}
	return masked
}
