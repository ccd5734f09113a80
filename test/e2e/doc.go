// Package e2e drives the real podidentity binary with the clients our users
// run: boto3, the AWS CLI and aws-sdk-go-v2. Tests skip with a clear message
// where a client is missing, and fail instead when PODIDENTITY_REQUIRE_E2E
// is set, as CI sets it.
package e2e
