// Package webhook is the mutating admission webhook that gives pods EKS Pod
// Identity outside EKS, where no control plane adds it for us: on pod
// creation it injects the container-credentials environment variables and
// the projected service-account token volume exactly as EKS does, for pods
// whose service account has an association.
//
// Mutate is pure (a pod and options in, a JSON patch out) so that golden
// pods in testdata pin its behaviour; Handler only speaks AdmissionReview
// over HTTP and asks an AssociationChecker whether to mutate.
package webhook
