package sigv4

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind says what is wrong with a request's signature or the credentials it
// was signed with. It is not a wire code: each AWS protocol names a kind in
// its own way (InvalidSignatureException, SignatureDoesNotMatch, ...), and
// that mapping lives with the protocol, in awsproto's error table.
type Kind int

const (
	MissingAuth         Kind = iota + 1 // no signature at all: no Authorization header, no presigned query
	IncompleteSignature                 // a signature is there but malformed or lacks parts
	UnrecognizedClient                  // the access key is unknown
	SignatureMismatch                   // the signature does not verify, or is scoped to another service, region, date or host
	RequestExpired                      // the signing time is too far from now
	InvalidSessionToken                 // the session token cannot be opened or belongs to another key
	ExpiredSessionToken                 // the session token has expired
)

var kindNames = [...]string{
	MissingAuth:         "missing_authentication",
	IncompleteSignature: "incomplete_signature",
	UnrecognizedClient:  "unrecognized_client",
	SignatureMismatch:   "signature_mismatch",
	RequestExpired:      "request_expired",
	InvalidSessionToken: "invalid_session_token",
	ExpiredSessionToken: "expired_session_token",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("sigv4.Kind(%d)", int(k))
}

// Error is a request refused by verification. Message is safe to show to
// the client: it never carries a secret, a session token or the signature
// we computed. Err, when set, is the cause, for logs only.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted client-facing message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of err, 0 when err is not (or does not wrap) an
// *Error.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return 0
}

// The messages below copy AWS's own wording where we know it, because SDK
// users search for those strings. None may ever include the secret key, the
// session token or the signature we computed; values echoed from the request
// go through quote first.

const msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func errMissingAuth() error {
	return Errorf(MissingAuth, "Request is missing Authentication Token")
}

func errUnrecognizedClient() error {
	return Errorf(UnrecognizedClient, "The security token included in the request is invalid.")
}

func errIncomplete(format string, args ...any) error {
	return Errorf(IncompleteSignature, format, args...)
}

// errMismatch is the error for a signature that does not verify. debug goes
// into Err, which only reaches logs; it must already be free of secrets.
func errMismatch(debug error) error {
	return &Error{Kind: SignatureMismatch, Message: msgSignatureMismatch, Err: debug}
}

// errMismatchf is a signature mismatch whose cause is known without
// computing the signature: a credential scope naming the wrong service,
// region or date, or a payload hash header that lies. AWS answers these with
// SignatureDoesNotMatch too, but explains what is wrong.
func errMismatchf(format string, args ...any) error {
	return Errorf(SignatureMismatch, format, args...)
}

// errWrongRegion is a credential scope naming a region this server does not
// serve. AWS's message names only the wrong region; ours also names the
// right one, because a self-hosted server's region is whatever its operator
// chose and the client cannot guess it.
func errWrongRegion(got string, served []string) error {
	ours := "this server's region is " + served[0]
	if len(served) > 1 {
		ours = "this server's regions are " + strings.Join(served, ", ")
	}
	return errMismatchf("Credential should be scoped to a valid region, not '%s'. The request was signed for region %s; %s.",
		quote(got), quote(got), ours)
}

func errTooOld(at, now time.Time, skew time.Duration) error {
	return Errorf(RequestExpired,
		"Signature expired: %s is now earlier than %s (%s - %s.)",
		at.Format(amzDateLayout), now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), formatSkew(skew))
}

func errTooNew(at, now time.Time, skew time.Duration) error {
	return Errorf(RequestExpired,
		"Signature not yet current: %s is still later than %s (%s + %s.)",
		at.Format(amzDateLayout), now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), formatSkew(skew))
}

func errPresignExpired(at time.Time, expires time.Duration, now time.Time) error {
	return Errorf(RequestExpired,
		"Request has expired: it was signed at %s for %d seconds and it is now %s.",
		at.Format(amzDateLayout), int64(expires/time.Second), now.Format(amzDateLayout))
}

// formatSkew writes the allowed skew the way AWS does ("15 min").
func formatSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int64(d/time.Minute))
	}
	return fmt.Sprintf("%d sec", int64(d/time.Second))
}

// quote makes a request value safe to echo in a message: bounded in length
// and printable ASCII only, so a hostile client cannot inject control
// characters into our responses or logs.
func quote(s string) string {
	const max = 64
	truncated := len(s) > max
	if truncated {
		s = s[:max]
	}
	var b strings.Builder
	b.Grow(len(s) + 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteByte(c)
	}
	if truncated {
		b.WriteString("...")
	}
	return b.String()
}
