// Package awssts is the credential backend for clusters that need real AWS
// access: the server holds an AWS identity of its own and exchanges each
// validated pod identity for temporary credentials from AWS STS, with the
// semantics EKS Pod Identity gives.
//
// For an association's role it calls sts:AssumeRole with the session name
// and the six EKS session tags (transitive, unless the association disables
// them) and, when there is no target role, the association's session policy.
// With a target role it chains: the first role's credentials assume the
// target role with the association's external id and session policy. The
// transitive tags follow the chain by themselves; STS refuses a chained call
// that repeats them.
//
// Credentials are cached per association and pod and reused for the first
// half of their lifetime, so bursts of requests for one pod cost one STS
// call and a pod never receives credentials with less than half their
// lifetime left. Concurrent misses for the same key share one exchange,
// which runs detached from the callers' contexts: a node agent that gives up
// after its one-second timeout does not cancel the exchange, and its retry
// finds the credentials in the cache.
//
// STS's answers become *podidentity.Error values: throttling (after the
// SDK's bounded retries) CodeThrottled, AccessDenied CodeAccessDenied with
// STS's own message, rejected parameters and policies CodeInvalidParameter,
// and network failures, 5xx answers and refusals of the server's own
// credentials CodeUnavailable. Nothing is reported as an internal error, and
// no secret reaches an error or a log line.
package awssts
