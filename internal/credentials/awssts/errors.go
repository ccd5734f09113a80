package awssts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// hop says which of the (at most two) AssumeRole calls failed, so that an
// error names the role and the principal whose trust is missing.
type hop struct {
	role       string // the role being assumed
	via        string // the role whose credentials made the call; "" for the server's own identity
	externalID string // sent with the call, "" for none
	tags       bool   // session tags were sent, or inherited as transitive ones
}

func (h hop) String() string {
	if h.via == "" {
		return "role " + h.role
	}
	return "target role " + h.role + " with the credentials of role " + h.via
}

// trustHint says what the assumed role's trust policy must allow.
func (h hop) trustHint() string {
	actions := "sts:AssumeRole"
	if h.tags {
		actions += " and sts:TagSession"
	}
	if h.via == "" {
		return fmt.Sprintf("The trust policy of %s must allow this server's AWS principal %s.", h.role, actions)
	}
	hint := fmt.Sprintf("The trust policy of %s must allow %s %s", h.role, h.via, actions)
	if h.externalID != "" {
		hint += fmt.Sprintf(" with sts:ExternalId %q", h.externalID)
	}
	return hint + ", and the permissions of " + h.via + " must allow " + actions + " on it."
}

// Codes STS answers with, grouped by what they mean for the pod.
var (
	// The request itself is wrong: a parameter, the policy, the tags.
	invalidParameterCodes = map[string]bool{
		"MalformedPolicyDocument":     true,
		"PackedPolicyTooLarge":        true,
		"ValidationError":             true,
		"InvalidParameterValue":       true,
		"InvalidParameterCombination": true,
		"MissingParameter":            true,
		"InvalidInput":                true,
	}
	// STS does not accept the credentials the call was signed with. For the
	// first call these are the server's own: nothing the pod can fix.
	credentialRefusedCodes = map[string]bool{
		"InvalidClientTokenId":        true,
		"UnrecognizedClient":          true,
		"UnrecognizedClientException": true,
		"SignatureDoesNotMatch":       true,
		"IncompleteSignature":         true,
		"MissingAuthenticationToken":  true,
		"InvalidAccessKeyId":          true,
		"AuthFailure":                 true,
		"ExpiredToken":                true,
		"ExpiredTokenException":       true,
		"InvalidToken":                true,
	}
	accessDeniedCodes = map[string]bool{
		"AccessDenied":              true,
		"AccessDeniedException":     true,
		"RegionDisabledException":   true, // STS is not activated in the region for the account
		"RegionDisabled":            true,
		"UnauthorizedOperation":     true,
		"NotAuthorized":             true,
		"InvalidAuthorizationToken": true,
	}
)

// apiCode returns the AWS error code of err, "" when AWS did not answer
// with one.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the status of the HTTP response behind err, 0 when
// there was none.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isDurationTooLong reports whether STS refused DurationSeconds as longer
// than it allows for this call: above the role's MaxSessionDuration (a
// setting of the role the server cannot read without iam:GetRole), or above
// the one hour AWS allows role chaining, which is what every call is when
// the server's own identity is a role session (IAM Roles Anywhere, web
// identity, an ECS task role; EC2 instance profiles are exempt).
func isDurationTooLong(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" &&
		strings.Contains(ae.ErrorMessage(), "DurationSeconds exceeds")
}

// mapError turns what the STS client returned for h into the domain's
// error. The message is for the pod and never carries a secret (STS's
// messages carry ARNs and request ids only); err goes to the logs.
func mapError(h hop, err error) *podidentity.Error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return &podidentity.Error{Code: podidentity.CodeUnavailable,
				Message: "AWS STS did not answer in time; retry the request.", Err: err}
		case httpStatus(err) == http.StatusTooManyRequests:
			return throttled(err)
		}
		// Network failures, and failures to obtain the server's own
		// credentials from its provider chain.
		return &podidentity.Error{Code: podidentity.CodeUnavailable,
			Message: "AWS STS could not be reached; retry the request.", Err: err}
	}
	code, msg := ae.ErrorCode(), ae.ErrorMessage()
	if code == "UnknownError" {
		code = unreadableErrorCode(err)
	}
	switch {
	case isThrottle(code) || httpStatus(err) == http.StatusTooManyRequests:
		return throttled(err)
	case accessDeniedCodes[code]:
		return &podidentity.Error{Code: podidentity.CodeAccessDenied,
			Message: fmt.Sprintf("AWS STS denied assuming %s: %s %s", h, quoteMessage(code, msg), h.trustHint()),
			Err:     err}
	case invalidParameterCodes[code]:
		return &podidentity.Error{Code: podidentity.CodeInvalidParameter,
			Message: fmt.Sprintf("AWS STS rejected the request to assume %s: %s", h, quoteMessage(code, msg)),
			Err:     err}
	case credentialRefusedCodes[code]:
		who := "this server's own AWS credentials"
		if h.via != "" {
			who = "the credentials of role " + h.via
		}
		return &podidentity.Error{Code: podidentity.CodeUnavailable,
			Message: fmt.Sprintf("AWS STS refused %s (%s) when assuming %s; the server's operator must check its AWS identity.", who, code, h),
			Err:     err}
	case ae.ErrorFault() == smithy.FaultServer || httpStatus(err) >= 500:
		return &podidentity.Error{Code: podidentity.CodeUnavailable,
			Message: fmt.Sprintf("AWS STS failed (%s); retry the request.", code), Err: err}
	default:
		// A client error STS has not documented for AssumeRole: pass its
		// words on rather than hide them behind an internal error.
		return &podidentity.Error{Code: podidentity.CodeInvalidRequest,
			Message: fmt.Sprintf("AWS STS refused the request to assume %s: %s", h, quoteMessage(code, msg)),
			Err:     err}
	}
}

// unreadableErrorCode names an error whose body the SDK could not read
// (STS-compatible endpoints do not all use STS's exact XML envelope): by the
// X-Amzn-ErrorType header when there is one, else by its HTTP status.
func unreadableErrorCode(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if t := re.Response.Header.Get("X-Amzn-ErrorType"); t != "" {
			code, _, _ := strings.Cut(t, ":")
			return code
		}
		if re.HTTPStatusCode() == http.StatusForbidden {
			return "AccessDenied"
		}
	}
	return "UnknownError"
}

func throttled(err error) *podidentity.Error {
	return &podidentity.Error{Code: podidentity.CodeThrottled,
		Message: "AWS STS is throttling this server's requests for credentials; retry with backoff.", Err: err}
}

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// quoteMessage renders STS's own words: "Code: message."
func quoteMessage(code, msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return code + "."
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return code + ": " + msg
}
