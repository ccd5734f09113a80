package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// requestTarget returns the path and query exactly as the client sent them.
// It reads r.RequestURI rather than r.URL: Go decodes r.URL.Path and keeps
// r.URL.RawPath only when the client's escaping differs from Go's own, and
// middleware such as http.StripPrefix rewrites r.URL, but the signature
// covers the bytes on the wire (for /tags/arn%3Aaws%3Aeks... the client
// signed "%3A", not ":").
func requestTarget(r *http.Request) (path, query string) {
	uri := r.RequestURI
	if uri == "" {
		// Built in-process rather than read by http.Server: this is what
		// the Go client would have put on the wire.
		uri = r.URL.RequestURI()
	}
	if !strings.HasPrefix(uri, "/") {
		// Absolute form (scheme://authority/path?query), which clients
		// send to proxies; the authority is signed as the host header.
		if _, rest, ok := strings.Cut(uri, "://"); ok {
			if i := strings.IndexAny(rest, "/?"); i >= 0 {
				uri = rest[i:]
			} else {
				uri = ""
			}
		}
	}
	path, query, _ = strings.Cut(uri, "?")
	if path == "" {
		path = "/"
	}
	return path, query
}

// appendCanonicalURI encodes the already-escaped path once more, as every
// SigV4 signer does for services other than S3: "%3A" becomes "%253A".
func appendCanonicalURI(b []byte, rawPath string) []byte {
	return appendEscaped(b, rawPath, true)
}

// normalizePath removes empty, "." and ".." segments from a raw path the
// way botocore does before signing (the Go SDK signs the path as it is).
// Verify tries this reading only when it differs from the raw path.
func normalizePath(p string) string {
	if !strings.HasPrefix(p, "/") || !hasDotOrEmptySegment(p) {
		return p
	}
	segs := make([]string, 0, strings.Count(p, "/"))
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	out := "/" + strings.Join(segs, "/")
	if len(segs) > 0 && strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}

// hasDotOrEmptySegment reports whether normalizePath would change p, so
// that the common path costs no allocation.
func hasDotOrEmptySegment(p string) bool {
	return strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
}

// queryParam is one decoded name=value pair of a query string.
type queryParam struct {
	key, value string
}

type queryParams []queryParam

// parseQuery decodes a raw query string with the rules Go's url.Values
// uses ('+' is a space), so that what is verified is what the handler will
// read. Empty pairs are skipped and a name without '=' has an empty value,
// matching both the Go SDK and botocore.
func parseQuery(raw string) (queryParams, error) {
	if raw == "" {
		return nil, nil
	}
	q := make(queryParams, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		q = append(q, queryParam{k, v})
	}
	return q, nil
}

// get returns the first value of name and how many times it occurs.
func (q queryParams) get(name string) (value string, n int) {
	for _, p := range q {
		if p.key == name {
			if n == 0 {
				value = p.value
			}
			n++
		}
	}
	return value, n
}

// appendCanonicalQuery appends the canonical query string: every pair
// (but X-Amz-Signature of a presigned URL) re-encoded with SigV4's rules,
// then sorted by encoded name and value. Sorting after encoding matters:
// "a/b" sorts after "a-b", but "a%2Fb" before it. With redact a presigned
// URL's session token is replaced, so the result can go to logs.
func appendCanonicalQuery(b []byte, q queryParams, presigned, redact bool) []byte {
	if len(q) == 0 {
		return b
	}
	enc := make([]queryParam, 0, len(q))
	for _, p := range q {
		if presigned && p.key == querySignature {
			continue
		}
		v := escape(p.value)
		if redact && p.key == querySecurityToken {
			v = redacted
		}
		enc = append(enc, queryParam{escape(p.key), v})
	}
	slices.SortFunc(enc, func(x, y queryParam) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	for i, p := range enc {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// unreserved reports whether SigV4 leaves c unescaped (RFC 3986
// unreserved characters).
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// escape percent-encodes s with SigV4's rules, returning s itself when
// nothing needs escaping, which is the common case.
func escape(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return string(appendEscaped(make([]byte, 0, len(s)+16), s, false))
		}
	}
	return s
}

func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

const redacted = "<redacted>"

// appendCanonicalHeaders appends "name:value\n" for each signed header,
// in the order of the SignedHeaders list the client sent. With redact the
// session token is replaced, so the result can go to logs.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string, redact bool) []byte {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		switch {
		case strings.EqualFold(name, "host"):
			// http.Server moves Host out of r.Header.
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b = appendHeaderValue(b, host)
		case redact && strings.EqualFold(name, querySecurityToken):
			b = append(b, redacted...)
		default:
			vs := headerValues(r.Header, name)
			if len(vs) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength > 0 {
				// A request built in-process carries its length only in
				// r.ContentLength; the Go client sends it as a header.
				b = strconv.AppendInt(b, r.ContentLength, 10)
			}
			for i, v := range vs {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendHeaderValue(b, v)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// headerValues looks a signed header up in h. SignedHeaders names are lower
// case while http.Server stores canonical MIME keys, so the name is
// canonicalised in a stack buffer (map lookups with string(bytes) do not
// allocate) before falling back to a case-insensitive scan.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) <= len(buf) {
		k := buf[:len(name)]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			k[i] = c
			upper = c == '-'
		}
		if vs, ok := h[string(k)]; ok {
			return vs
		}
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}

// appendHeaderValue trims the value and folds runs of spaces into one, as
// the SigV4 specification and the Go SDK do. (botocore folds tabs too; a
// signed header with an inner tab is not something any AWS client sends.)
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}
