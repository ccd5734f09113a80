// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests,
// so that the server authenticates callers of its EKS, EKS Auth and STS APIs
// the way AWS does and unmodified SDKs and the AWS CLI can talk to it.
//
// It exists because the AWS SDKs only sign: there is no maintained library
// that verifies SigV4 on the server side, and a verifier must reproduce every
// signer's canonicalisation from the bytes the client actually sent — the
// double-encoded path of non-S3 services, query parameters decoded and
// re-encoded, header whitespace folded, presigned URLs whose payload is
// either hashed or UNSIGNED-PAYLOAD. Getting any of these subtly wrong means
// some client's requests are rejected, so the package is tested against the
// real Go and Python signers and fuzzed.
//
// Out of scope, because no API this server speaks needs them: S3's
// single-encoded paths, chunked (streaming) payload signatures and SigV4a.
package sigv4
