package sigv4

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	scopeTerminator = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"

	// maxPresignExpiry is the longest X-Amz-Expires AWS accepts: one week.
	maxPresignExpiry = 7 * 24 * time.Hour
)

// Query parameters of a presigned URL.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	querySecurityToken = "X-Amz-Security-Token"
)

// credential is a parsed Credential=/X-Amz-Credential value,
// <access key id>/<yyyymmdd>/<region>/<service>/aws4_request. All fields are
// substrings of raw.
type credential struct {
	raw         string
	accessKeyID string
	date        string
	region      string
	service     string
	scope       string // date/region/service/aws4_request, as in the string to sign
}

// authorization is what the client claims about its signature, from either
// the Authorization header or the presigned query parameters.
type authorization struct {
	cred          credential
	signedHeaders string // as sent: it is part of the canonical request verbatim
	signature     string // hex, as sent
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20231102/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// Signers differ on the separators (", " or ","), so any commas and spaces
// between the parameters are accepted.
func parseAuthorization(h string) (authorization, error) {
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		// The header is not echoed: it might be some other scheme's bearer token.
		return authorization{}, errIncomplete("Authorization header must use the %s algorithm.", algorithm)
	}
	var cred, signedHeaders, signature string
	var haveCred, haveHeaders, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return authorization{}, errIncomplete("'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", quote(part))
		}
		var dst *string
		var seen *bool
		switch key {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signedHeaders, &haveHeaders
		case "Signature":
			dst, seen = &signature, &haveSig
		default:
			continue // AWS ignores parameters it does not know
		}
		if *seen {
			return authorization{}, errIncomplete("Authorization header has more than one '%s' parameter.", key)
		}
		*dst, *seen = value, true
	}
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveHeaders {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if len(missing) > 0 {
		return authorization{}, errIncomplete("%s", strings.Join(missing, " "))
	}
	return newAuthorization(cred, signedHeaders, signature)
}

// parsePresigned reads the authorization from a presigned URL's query.
// Each parameter must appear exactly once: with two X-Amz-Date values, for
// example, it would be ambiguous which one was signed. X-Amz-Expires alone
// is optional, because the Go SDK's STS presigner leaves it out unless asked;
// expires is then zero and the request is held to the clock skew like a
// header-signed one.
func parsePresigned(q queryParams) (auth authorization, amzDate string, expires time.Duration, err error) {
	var vals [5]string
	for i, name := range [...]string{queryAlgorithm, queryCredential, querySignedHeaders, querySignature, queryDate} {
		v, n := q.get(name)
		switch {
		case n == 0:
			return authorization{}, "", 0, errIncomplete("AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", name)
		case n > 1:
			return authorization{}, "", 0, errQueryRepeated(name)
		}
		vals[i] = v
	}
	if vals[0] != algorithm {
		return authorization{}, "", 0, errIncomplete("X-Amz-Algorithm only supports \"%s\".", algorithm)
	}
	switch v, n := q.get(queryExpires); {
	case n > 1:
		return authorization{}, "", 0, errQueryRepeated(queryExpires)
	case n == 1:
		secs, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || secs <= 0 {
			return authorization{}, "", 0, errIncomplete("X-Amz-Expires should be a positive number of seconds.")
		}
		if secs > int64(maxPresignExpiry/time.Second) {
			return authorization{}, "", 0, errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		expires = time.Duration(secs) * time.Second
	}
	auth, err = newAuthorization(vals[1], vals[2], vals[3])
	return auth, vals[4], expires, err
}

func errQueryRepeated(name string) error {
	return errIncomplete("AWS query-string parameter '%s' must appear only once.", name)
}

func newAuthorization(cred, signedHeaders, signature string) (authorization, error) {
	c, err := parseCredential(cred)
	if err != nil {
		return authorization{}, err
	}
	if err := checkSignedHeaders(signedHeaders); err != nil {
		return authorization{}, err
	}
	return authorization{cred: c, signedHeaders: signedHeaders, signature: signature}, nil
}

func parseCredential(s string) (credential, error) {
	if strings.Count(s, "/") != 4 {
		return credential{}, errCredentialFormat(s)
	}
	c := credential{raw: s}
	var rest, term string
	c.accessKeyID, rest, _ = strings.Cut(s, "/")
	c.scope = rest
	c.date, rest, _ = strings.Cut(rest, "/")
	c.region, rest, _ = strings.Cut(rest, "/")
	c.service, term, _ = strings.Cut(rest, "/")
	if c.accessKeyID == "" || c.date == "" || c.region == "" || c.service == "" {
		return credential{}, errCredentialFormat(s)
	}
	if term != scopeTerminator {
		return credential{}, errIncomplete("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, quote(term))
	}
	return c, nil
}

func errCredentialFormat(s string) error {
	return errIncomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", quote(s))
}

// checkSignedHeaders insists on a well-formed list that includes host:
// without host, a request signed for one endpoint could be replayed
// against another.
func checkSignedHeaders(s string) error {
	if s == "" {
		return errIncomplete("SignedHeaders must not be empty.")
	}
	haveHost := false
	for rest := s; rest != ""; {
		var name string
		var more bool
		name, rest, more = strings.Cut(rest, ";")
		if name == "" || (more && rest == "") || !isToken(name) {
			return errIncomplete("SignedHeaders '%s' is not a list of header names separated by ';'.", quote(s))
		}
		if strings.EqualFold(name, "host") {
			haveHost = true
		}
	}
	if !haveHost {
		return errIncomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// parseAmzDate parses the ISO 8601 basic format SigV4 uses,
// 20231102T000000Z, and nothing looser: the string is signed as sent.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(amzDateLayout) {
		return time.Time{}, errBadDate(s)
	}
	t, err := time.Parse(amzDateLayout, s)
	if err != nil {
		return time.Time{}, errBadDate(s)
	}
	return t, nil
}

func errBadDate(s string) error {
	return errIncomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", quote(s))
}

// headerDate finds the request time of a header-signed request: X-Amz-Date,
// or the HTTP Date header, which botocore signs when the caller set one. It
// returns the timestamp formatted for the string to sign.
func headerDate(h http.Header) (amzDate string, at time.Time, err error) {
	if vs := h["X-Amz-Date"]; len(vs) > 0 {
		if len(vs) > 1 {
			return "", time.Time{}, errIncomplete("Only one X-Amz-Date header is allowed.")
		}
		at, err := parseAmzDate(vs[0])
		return vs[0], at, err
	}
	if vs := h["Date"]; len(vs) > 0 {
		if len(vs) > 1 {
			return "", time.Time{}, errIncomplete("Only one Date header is allowed.")
		}
		at, err := http.ParseTime(vs[0])
		if err != nil {
			// botocore rewrites the Date header it signs with Python's
			// formatdate, which writes the zone as "-0000".
			at, err = time.Parse(time.RFC1123Z, vs[0])
		}
		if err != nil {
			return "", time.Time{}, errIncomplete("Date header '%s' is not an HTTP date.", quote(vs[0]))
		}
		at = at.UTC()
		return at.Format(amzDateLayout), at, nil
	}
	return "", time.Time{}, errIncomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// decodeSignature decodes the client's hex signature. A malformed one can
// never match, so the caller reports it as a mismatch.
func decodeSignature(s string) (sig [32]byte, ok bool) {
	if len(s) != 2*len(sig) {
		return sig, false
	}
	for i := range sig {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return sig, false
		}
		sig[i] = hi<<4 | lo
	}
	return sig, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
