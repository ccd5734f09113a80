package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// logRequest writes the one access-log line of an AWS request, in the
// words the client and the metrics use: the operation name
// (GetCallerIdentity, not the STS endpoint) and the AWS error code the
// client received (InvalidTokenException, as in
// podidentity_server_requests_total{code}). A refusal carries its reason,
// the message the client got, and for a refused signature the access key
// id it named; none of them ever holds a token, secret key or session
// token.
func (s *Server) logRequest(r *http.Request, operation string, d awsproto.Dialect, status int, id, caller string, err error, elapsed time.Duration) {
	attrs := []slog.Attr{
		slog.String("operation", operation),
		slog.Int("status", status),
		slog.String("request_id", id),
		slog.String("duration", elapsed.Round(time.Microsecond).String()),
	}
	if caller != "" {
		attrs = append(attrs, slog.String("caller", caller))
	}
	code := "OK"
	if err != nil {
		we, _ := awsproto.Lookup(d, awsproto.ErrorCode(err))
		code = we.Type
	}
	attrs = append(attrs, slog.String("code", code))
	if reason, cause, signature, ok := refusal(err); ok {
		attrs = append(attrs, slog.String("reason", reason))
		if cause != nil {
			// For a refused signature, the canonical request the server
			// computed (its session token redacted by sigv4): what to
			// compare with the client's.
			attrs = append(attrs, slog.String("cause", cause.Error()))
		}
		if signature {
			if ak := accessKeyID(r); ak != "" {
				attrs = append(attrs, slog.String("access_key_id", ak))
			}
		}
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// refusal is what the log says of an error the client caused: the message
// it got and the cause, and whether it refused the request's SigV4
// signature or its credentials, where the access key id tells the operator
// whose client is misconfigured. Internal and unavailable errors are not
// refusals: they were logged with their cause already, and their message
// to the client says nothing more.
func refusal(err error) (reason string, cause error, signature, ok bool) {
	if e, isSig := errors.AsType[*sigv4.Error](err); isSig {
		return e.Message, e.Err, e.Kind != sigv4.MissingAuth, true
	}
	var e *pi.Error
	if errors.As(err, &e) && e.Code != pi.CodeInternal && e.Code != pi.CodeUnavailable {
		return e.Message, e.Err, false, true
	}
	return "", nil, false, false
}

var accessKeyIDPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// accessKeyID is the access key id a request's signature names (an
// Authorization header's Credential, or a presigned X-Amz-Credential), or
// "" when it names none. An access key id is not a secret (AWS logs it in
// CloudTrail); anything not shaped like one is left out, so a client
// cannot write what it likes into the log.
func accessKeyID(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		_, after, ok := strings.Cut(h, "Credential=")
		if !ok {
			return ""
		}
		cred = after
	}
	ak, _, _ := strings.Cut(cred, "/")
	if !accessKeyIDPattern.MatchString(ak) {
		return ""
	}
	return ak
}

// opNameKey holds, in a request's context, the operation name a handler
// learns only from the request: an STS endpoint serves several actions.
type opNameKey struct{}

func withOpName(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), opNameKey{}, new(string)))
}

// setOpName names the operation a request turned out to be. Callers pass
// names from a fixed set, never request data, as they become metric labels.
func setOpName(ctx context.Context, name string) {
	if p, ok := ctx.Value(opNameKey{}).(*string); ok {
		*p = name
	}
}

// opName is the name setOpName gave, or the route's.
func opName(r *http.Request, route string) string {
	if p, ok := r.Context().Value(opNameKey{}).(*string); ok && *p != "" {
		return *p
	}
	return route
}
