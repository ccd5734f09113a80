// Package agent is the node agent: a drop-in for aws/eks-pod-identity-agent.
// It serves pods the container credential endpoint the AWS SDKs already use
// (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials,
// the pod's service-account token in the Authorization header) and answers
// from a bounded, refreshing cache filled by EKS Auth AssumeRoleForPodIdentity,
// on AWS or on a podidentity server.
//
// The cache is keyed by a hash of the token and de-duplicates concurrent
// fetches of one token, so a burst of pods costs one upstream call each; it
// keeps serving cached credentials while EKS Auth is down or throttling, and
// stops refreshing a token once nobody holds unexpired credentials from it,
// so dead pods cost nothing after their credentials lapse; with a
// PodChecker, a pod the API server says is gone is not renewed at all.
package agent
