// Package kube tests podidentity against a real kube-apiserver and etcd,
// started on 127.0.0.1 by hack/kube-up.sh from binaries hack/kube-build.sh
// builds: service-account tokens the API server itself issued are
// validated through its OIDC discovery, JWKS and TokenReview; pods created
// through it are mutated by our webhook; and the deploy manifests and Helm
// chart are applied for real. Tests skip with a clear message when the
// binaries are missing, and fail instead when PODIDENTITY_REQUIRE_E2E is
// set, as CI sets it.
package kube
