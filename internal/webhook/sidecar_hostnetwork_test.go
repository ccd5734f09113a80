package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod on the host network shares the node's loopback, where another
// process could take the sidecar's port and collect the pod's token: it
// gets the node agent's address instead, and a warning says why.
func TestNoSidecarOnTheHostNetwork(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team", Annotations: map[string]string{AnnotationDelivery: DeliverySidecar}},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	res, err := Mutate(pod, sidecarOpts)
	if err != nil {
		t.Fatal(err)
	}
	patch, _ := json.Marshal(res.Patch)
	if strings.Contains(string(patch), SidecarName) || strings.Contains(string(patch), "127.0.0.1") {
		t.Errorf("a sidecar was injected into a hostNetwork pod: %s", patch)
	}
	if !strings.Contains(string(patch), "http://169.254.170.23/v1/credentials") {
		t.Errorf("the pod was not pointed at the node agent: %s", patch)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, " "), "hostNetwork") {
		t.Errorf("warnings %q do not say why", res.Warnings)
	}
}
