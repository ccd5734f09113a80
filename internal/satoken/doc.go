// Package satoken validates the projected Kubernetes service-account tokens
// that pods present to AssumeRoleForPodIdentity, as EKS Auth does: the token
// must be signed by its cluster (RS256 or ES256, keys from a JWKS file, a
// JWKS URL, OIDC discovery or memory), carry the cluster's issuer and the
// pods.eks.amazonaws.com audience, be within its validity window and be bound
// to a pod. Optionally the cluster itself is asked through the TokenReview
// API, which is the only way to learn that a still-unexpired token belongs
// to a pod that has since been deleted.
//
// It exists as its own package because this is the one place where an
// unauthenticated caller's bytes decide which AWS role the server will hand
// out credentials for; keeping it small, fuzzed and free of transport
// concerns makes it easy to review.
package satoken
