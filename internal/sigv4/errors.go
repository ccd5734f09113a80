package sigv4

import (
	"fmt"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// The messages below copy AWS's own wording where we know it, because SDK
// users search for those strings. None may ever include the secret key, the
// session token or the signature we computed; values echoed from the request
// go through quote first.

const msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func errMissingAuth() error {
	return podidentity.Errorf(podidentity.CodeMissingAuth, "Request is missing Authentication Token")
}

func errUnrecognizedClient() error {
	return podidentity.Errorf(podidentity.CodeUnrecognizedClient, "The security token included in the request is invalid.")
}

func errIncomplete(format string, args ...any) error {
	return podidentity.Errorf(podidentity.CodeIncompleteSignature, format, args...)
}

// errMismatch is the error for a signature that does not verify. debug goes
// into Err, which only reaches logs; it must already be free of secrets.
func errMismatch(debug error) error {
	return &podidentity.Error{Code: podidentity.CodeSignatureMismatch, Message: msgSignatureMismatch, Err: debug}
}

// errMismatchf is a signature mismatch whose cause is known without
// computing the signature: a credential scope naming the wrong service,
// region or date, or a payload hash header that lies. AWS answers these with
// SignatureDoesNotMatch too, but explains what is wrong.
func errMismatchf(format string, args ...any) error {
	return podidentity.Errorf(podidentity.CodeSignatureMismatch, format, args...)
}

func errTooOld(at, now time.Time, skew time.Duration) error {
	return podidentity.Errorf(podidentity.CodeRequestExpired,
		"Signature expired: %s is now earlier than %s (%s - %s.)",
		at.Format(amzDateLayout), now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), formatSkew(skew))
}

func errTooNew(at, now time.Time, skew time.Duration) error {
	return podidentity.Errorf(podidentity.CodeRequestExpired,
		"Signature not yet current: %s is still later than %s (%s + %s.)",
		at.Format(amzDateLayout), now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), formatSkew(skew))
}

func errPresignExpired(at time.Time, expires time.Duration, now time.Time) error {
	return podidentity.Errorf(podidentity.CodeRequestExpired,
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
