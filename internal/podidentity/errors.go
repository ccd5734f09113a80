package podidentity

import (
	"errors"
	"fmt"
)

// Code classifies a failure independently of the wire protocol. Each AWS
// protocol adapter maps a Code to its own exception name and HTTP status in
// exactly one table, so the domain never needs to know which service a
// request came through. The codes here are business outcomes; failures only
// the wire can have (a bad signature, an unknown operation) are named by
// the wire adapter, awsproto.
type Code string

const (
	// Client errors.
	CodeInvalidParameter    Code = "invalid_parameter"    // a parameter is malformed or out of range
	CodeInvalidRequest      Code = "invalid_request"      // the request as a whole makes no sense
	CodeNotFound            Code = "not_found"            // cluster, association or resource does not exist
	CodeInUse               Code = "in_use"               // uniqueness conflict
	CodeLimitExceeded       Code = "limit_exceeded"       // a quota would be exceeded
	CodeIdempotencyMismatch Code = "idempotency_mismatch" // client token reused with other parameters
	CodeInvalidToken        Code = "invalid_token"        // a service-account token is not acceptable
	CodeExpiredToken        Code = "expired_token"        // a service-account token has expired
	CodeAccessDenied        Code = "access_denied"        // the caller may not perform the action
	CodeThrottled           Code = "throttled"            // too many requests
	CodeUnsupported         Code = "unsupported"          // an AWS operation this server deliberately does not offer
	CodeUnavailable         Code = "unavailable"          // a dependency is down; retry later
	CodeInternal            Code = "internal"             // a bug or an unexpected failure
)

// Error is the domain's error. Message is safe to show to the client: it
// never carries tokens, secrets or internal details. Err, when set, is the
// underlying cause, for logs only.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted client-facing message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure. The client sees only a generic
// message; the cause goes to the logs.
func Internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "an internal error occurred", Err: err}
}

// Unavailable wraps a failure of a dependency the client may retry.
func Unavailable(err error) *Error {
	return &Error{Code: CodeUnavailable, Message: "the service is temporarily unavailable; retry the request", Err: err}
}

// ErrorCode returns the Code of err, CodeInternal for anything that is not
// an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "an internal error occurred"
}
