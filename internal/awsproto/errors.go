package awsproto

import (
	"errors"
	"maps"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// Dialect selects a service's error vocabulary. EKS's tagging operations
// use their own exceptions (BadRequestException, NotFoundException), and
// EKS Auth models AccessDeniedException as a 400, so the table is keyed by
// dialect as well as by code.
type Dialect int

const (
	EKS Dialect = iota
	EKSTags
	EKSAuth
	STS
)

// Codes that only the wire knows: the domain never produces them. The
// signing ones name the kinds of sigv4.Error (signingCodes); they share the
// domain's Code type so that one table, keyed by one code, renders every
// error, and logs and metrics name them the same way.
const (
	CodeMissingAuth         pi.Code = "missing_authentication" // no credentials in the request
	CodeUnrecognizedClient  pi.Code = "unrecognized_client"    // the access key is unknown
	CodeIncompleteSignature pi.Code = "incomplete_signature"   // the signature is malformed or lacks parts
	CodeSignatureMismatch   pi.Code = "signature_mismatch"     // the signature does not verify
	CodeRequestExpired      pi.Code = "request_expired"        // the signed request is too old or too new
	CodeExpiredSessionToken pi.Code = "expired_session_token"  // an AWS session token has expired
	CodeInvalidSessionToken pi.Code = "invalid_session_token"  // an AWS session token cannot be opened
	CodeUnknownOperation    pi.Code = "unknown_operation"      // no such API operation
)

var signingCodes = map[sigv4.Kind]pi.Code{
	sigv4.MissingAuth:         CodeMissingAuth,
	sigv4.IncompleteSignature: CodeIncompleteSignature,
	sigv4.UnrecognizedClient:  CodeUnrecognizedClient,
	sigv4.SignatureMismatch:   CodeSignatureMismatch,
	sigv4.RequestExpired:      CodeRequestExpired,
	sigv4.InvalidSessionToken: CodeInvalidSessionToken,
	sigv4.ExpiredSessionToken: CodeExpiredSessionToken,
}

// ErrorCode returns the code that selects err's row in the error table: a
// signing failure's code, a domain error's code, CodeInternal for anything
// else.
func ErrorCode(err error) pi.Code {
	if e, ok := errors.AsType[*sigv4.Error](err); ok {
		if code, ok := signingCodes[e.Kind]; ok {
			return code
		}
		return pi.CodeInternal
	}
	return pi.ErrorCode(err)
}

// errorMessage returns the client-safe message of err.
func errorMessage(err error) string {
	if e, ok := errors.AsType[*sigv4.Error](err); ok {
		return e.Message
	}
	return pi.ErrorMessage(err)
}

// WireError is how one domain code looks on the wire for one dialect.
type WireError struct {
	Status int
	Type   string
}

// signing failures look the same on every rest-json service.
var restJSONAuthErrors = map[pi.Code]WireError{
	CodeMissingAuth:         {403, "MissingAuthenticationTokenException"},
	CodeIncompleteSignature: {400, "IncompleteSignatureException"},
	CodeUnrecognizedClient:  {403, "UnrecognizedClientException"},
	CodeInvalidSessionToken: {403, "UnrecognizedClientException"},
	CodeSignatureMismatch:   {403, "InvalidSignatureException"},
	CodeRequestExpired:      {403, "InvalidSignatureException"},
	CodeExpiredSessionToken: {403, "ExpiredTokenException"},
	CodeUnknownOperation:    {404, "UnknownOperationException"},
	pi.CodeThrottled:        {429, "ThrottlingException"},
}

var errorTable = map[Dialect]map[pi.Code]WireError{
	EKS: withAuthErrors(map[pi.Code]WireError{
		pi.CodeInvalidParameter:    {400, "InvalidParameterException"},
		pi.CodeInvalidRequest:      {400, "InvalidRequestException"},
		pi.CodeIdempotencyMismatch: {400, "InvalidRequestException"},
		pi.CodeNotFound:            {404, "ResourceNotFoundException"},
		pi.CodeInUse:               {409, "ResourceInUseException"},
		pi.CodeLimitExceeded:       {400, "ResourceLimitExceededException"},
		pi.CodeAccessDenied:        {403, "AccessDeniedException"},
		pi.CodeUnavailable:         {503, "ServiceUnavailableException"},
		pi.CodeInternal:            {500, "ServerException"},
		// Every cluster operation of the EKS model lists ClientException,
		// "caused by a client action": the right answer to CreateCluster
		// on a server whose clusters come from its configuration.
		pi.CodeUnsupported: {400, "ClientException"},
	}),
	EKSTags: withAuthErrors(map[pi.Code]WireError{
		pi.CodeInvalidParameter: {400, "BadRequestException"},
		pi.CodeInvalidRequest:   {400, "BadRequestException"},
		pi.CodeLimitExceeded:    {400, "BadRequestException"},
		pi.CodeNotFound:         {404, "NotFoundException"},
		pi.CodeAccessDenied:     {403, "AccessDeniedException"},
		pi.CodeUnavailable:      {503, "ServiceUnavailableException"},
		pi.CodeInternal:         {500, "ServerException"},
	}),
	EKSAuth: withAuthErrors(map[pi.Code]WireError{
		pi.CodeInvalidParameter: {400, "InvalidParameterException"},
		pi.CodeInvalidRequest:   {400, "InvalidRequestException"},
		pi.CodeInvalidToken:     {400, "InvalidTokenException"},
		pi.CodeExpiredToken:     {400, "ExpiredTokenException"},
		pi.CodeAccessDenied:     {400, "AccessDeniedException"}, // 400, as the eks-auth model says
		pi.CodeNotFound:         {404, "ResourceNotFoundException"},
		pi.CodeUnavailable:      {503, "ServiceUnavailableException"},
		pi.CodeInternal:         {500, "InternalServerException"},
	}),
	STS: {
		CodeMissingAuth:         {403, "MissingAuthenticationToken"},
		CodeIncompleteSignature: {400, "IncompleteSignature"},
		CodeUnrecognizedClient:  {403, "InvalidClientTokenId"},
		CodeInvalidSessionToken: {403, "InvalidClientTokenId"},
		CodeSignatureMismatch:   {403, "SignatureDoesNotMatch"},
		CodeRequestExpired:      {403, "SignatureDoesNotMatch"},
		CodeExpiredSessionToken: {400, "ExpiredToken"},
		CodeUnknownOperation:    {400, "InvalidAction"},
		pi.CodeInvalidParameter: {400, "InvalidParameterValue"},
		pi.CodeInvalidRequest:   {400, "InvalidParameterCombination"},
		pi.CodeAccessDenied:     {403, "AccessDenied"},
		pi.CodeThrottled:        {400, "Throttling"},
		pi.CodeUnavailable:      {503, "ServiceUnavailable"},
		pi.CodeInternal:         {500, "InternalFailure"},
	},
}

// Lookup returns the wire form of code in dialect. A code a dialect has no
// name for is reported as that dialect's internal error: the table test
// makes sure that only happens for codes a service cannot produce.
func Lookup(d Dialect, code pi.Code) (WireError, bool) {
	if we, ok := errorTable[d][code]; ok {
		return we, true
	}
	return errorTable[d][pi.CodeInternal], false
}

// withAuthErrors adds the signing failures every rest-json service shares
// to a dialect's own rows, which win.
func withAuthErrors(own map[pi.Code]WireError) map[pi.Code]WireError {
	out := maps.Clone(restJSONAuthErrors)
	maps.Copy(out, own)
	return out
}
