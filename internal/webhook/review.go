package webhook

import (
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxReviewSize caps an AdmissionReview body. The API server refuses
// objects over 3 MiB; a review carries at most the object and its old
// version, plus a little.
const MaxReviewSize = 7 << 20

var (
	podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	podKind     = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
)

// ReviewError is a malformed AdmissionReview: the API server (or whoever
// sent it) gets 400 and the reason.
type ReviewError struct{ Reason string }

func (e *ReviewError) Error() string { return "malformed AdmissionReview: " + e.Reason }

func malformed(format string, args ...any) error {
	return &ReviewError{Reason: fmt.Sprintf(format, args...)}
}

// DecodeReview parses an admission.k8s.io/v1 AdmissionReview request. It
// returns the request, and the pod when the request is one this webhook
// acts on (a pod CREATE), else a nil pod. Errors are *ReviewError.
func DecodeReview(body []byte) (*admissionv1.AdmissionRequest, *corev1.Pod, error) {
	if len(body) > MaxReviewSize {
		return nil, nil, malformed("the body is larger than %d bytes", MaxReviewSize)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, nil, malformed("not JSON of an AdmissionReview: %s", jsonProblem(err))
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, nil, malformed("apiVersion %q, kind %q: want %s, AdmissionReview (set admissionReviewVersions: [v1])",
			clip(review.APIVersion, 60), clip(review.Kind, 60), admissionv1.SchemeGroupVersion)
	}
	req := review.Request
	if req == nil {
		return nil, nil, malformed("it has no request")
	}
	if req.UID == "" {
		return nil, nil, malformed("request.uid is empty")
	}
	if req.Operation != admissionv1.Create || req.Resource != podResource || req.SubResource != "" {
		return req, nil, nil
	}
	if req.Kind != podKind {
		return nil, nil, malformed("request.kind is %s for resource pods", clip(req.Kind.String(), 100))
	}
	if len(req.Object.Raw) == 0 {
		return nil, nil, malformed("request.object is empty")
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, nil, malformed("request.object is not a Pod: %s", jsonProblem(err))
	}
	return req, &pod, nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("%s must be %s, not a JSON %s", clip(field, 100), typ.Type, typ.Value)
	}
	return clip(err.Error(), 200)
}
