package awsproto

import (
	pi "github.com/podidentity/podidentity/internal/podidentity"
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

// WireError is how one domain code looks on the wire for one dialect.
type WireError struct {
	Status int
	Type   string
}

// signing failures look the same on every rest-json service.
var restJSONAuthErrors = map[pi.Code]WireError{
	pi.CodeMissingAuth:         {403, "MissingAuthenticationTokenException"},
	pi.CodeIncompleteSignature: {400, "IncompleteSignatureException"},
	pi.CodeUnrecognizedClient:  {403, "UnrecognizedClientException"},
	pi.CodeInvalidSessionToken: {403, "UnrecognizedClientException"},
	pi.CodeSignatureMismatch:   {403, "InvalidSignatureException"},
	pi.CodeRequestExpired:      {403, "InvalidSignatureException"},
	pi.CodeExpiredSessionToken: {403, "ExpiredTokenException"},
	pi.CodeUnknownOperation:    {404, "UnknownOperationException"},
	pi.CodeThrottled:           {429, "ThrottlingException"},
}

var errorTable = map[Dialect]map[pi.Code]WireError{
	EKS: merge(restJSONAuthErrors, map[pi.Code]WireError{
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
	EKSTags: merge(restJSONAuthErrors, map[pi.Code]WireError{
		pi.CodeInvalidParameter: {400, "BadRequestException"},
		pi.CodeInvalidRequest:   {400, "BadRequestException"},
		pi.CodeLimitExceeded:    {400, "BadRequestException"},
		pi.CodeNotFound:         {404, "NotFoundException"},
		pi.CodeAccessDenied:     {403, "AccessDeniedException"},
		pi.CodeUnavailable:      {503, "ServiceUnavailableException"},
		pi.CodeInternal:         {500, "ServerException"},
	}),
	EKSAuth: merge(restJSONAuthErrors, map[pi.Code]WireError{
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
		pi.CodeMissingAuth:         {403, "MissingAuthenticationToken"},
		pi.CodeIncompleteSignature: {400, "IncompleteSignature"},
		pi.CodeUnrecognizedClient:  {403, "InvalidClientTokenId"},
		pi.CodeInvalidSessionToken: {403, "InvalidClientTokenId"},
		pi.CodeSignatureMismatch:   {403, "SignatureDoesNotMatch"},
		pi.CodeRequestExpired:      {403, "SignatureDoesNotMatch"},
		pi.CodeExpiredSessionToken: {400, "ExpiredToken"},
		pi.CodeUnknownOperation:    {400, "InvalidAction"},
		pi.CodeInvalidParameter:    {400, "InvalidParameterValue"},
		pi.CodeInvalidRequest:      {400, "InvalidParameterCombination"},
		pi.CodeAccessDenied:        {403, "AccessDenied"},
		pi.CodeThrottled:           {400, "Throttling"},
		pi.CodeUnavailable:         {503, "ServiceUnavailable"},
		pi.CodeInternal:            {500, "InternalFailure"},
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

func merge(a, b map[pi.Code]WireError) map[pi.Code]WireError {
	out := make(map[pi.Code]WireError, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
