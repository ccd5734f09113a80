package webhook

import (
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzDecodeReview feeds arbitrary bodies to the AdmissionReview decoder:
// it must never panic, must fail only with a *ReviewError, and whenever it
// yields a pod, Mutate's patch must apply to that pod (as the API server
// applies it, to its own serialization) and a second Mutate must add
// nothing. The corpus in testdata/fuzz holds real reviews and near misses.
func FuzzDecodeReview(f *testing.F) {
	for _, name := range []string{"minimal", "existing-lists", "init-containers", "reinvoked-new-container", "mount-conflict"} {
		raw, _ := loadPod(f, "testdata/mutate/"+name+".pod.yaml")
		f.Add(reviewFor(f, "default", raw))
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x"}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{"name":"a","env":null}]}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, pod, err := DecodeReview(body)
		if err != nil {
			var re *ReviewError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *ReviewError", err, err)
			}
			return
		}
		if pod == nil {
			return
		}
		res, err := Mutate(pod, Options{})
		if err != nil {
			t.Fatalf("Mutate: %v", err)
		}
		if len(res.Patch) == 0 {
			return
		}
		doc, err := json.Marshal(pod)
		if err != nil {
			t.Fatalf("re-encoding the pod: %v", err)
		}
		patch, err := json.Marshal(res.Patch)
		if err != nil {
			t.Fatalf("encoding the patch: %v", err)
		}
		out, err := applyPatch(doc, patch)
		if err != nil {
			t.Fatalf("the patch does not apply: %v\npod: %s\npatch: %s", err, doc, patch)
		}
		var patched corev1.Pod
		if err := json.Unmarshal(out, &patched); err != nil {
			t.Fatalf("the patched pod does not decode: %v", err)
		}
		again, err := Mutate(&patched, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Patch) != 0 {
			p, _ := json.Marshal(again.Patch)
			t.Fatalf("a second Mutate patches again: %s\npod: %s", p, out)
		}
	})
}
