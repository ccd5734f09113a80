package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
)

// fakeAssociations answers from a set of "namespace/serviceAccount" and
// counts lookups.
type fakeAssociations struct {
	mu    sync.Mutex
	has   map[string]bool
	err   error
	calls atomic.Int64
}

func (f *fakeAssociations) HasAssociation(_ context.Context, namespace, serviceAccount string) (bool, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	return f.has[namespace+"/"+serviceAccount], nil
}

// reviewFor wraps a pod (JSON) in the AdmissionReview the API server sends
// for a pod CREATE.
func reviewFor(t testing.TB, namespace string, pod []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":                "705ab4f5-6393-11e8-b7cc-42010a800002",
			"kind":               map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":           map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"requestKind":        map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"requestResource":    map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace":          namespace,
			"operation":          "CREATE",
			"userInfo":           map[string]any{"username": "admin", "groups": []string{"system:authenticated"}},
			"object":             json.RawMessage(pod),
			"oldObject":          nil,
			"dryRun":             false,
			"options":            map[string]string{"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
			"name":               "",
			"subResource":        "",
			"requestSubResource": "",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, h http.Handler, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mutate", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// admit posts a review and decodes the response, which must be a 200.
func admit(t *testing.T, h http.Handler, in []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, body := post(t, h, "application/json", in)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Response == nil {
		t.Fatalf("not an AdmissionReview response: %s", body)
	}
	if review.Response.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" {
		t.Errorf("uid %q not echoed", review.Response.UID)
	}
	return review.Response
}

func newTestHandler(t *testing.T, assoc AssociationChecker, failClosed bool) *Handler {
	t.Helper()
	h, err := NewHandler(Config{Associations: assoc, FailClosed: failClosed})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandlerInjectsWhenAssociated(t *testing.T) {
	assoc := &fakeAssociations{has: map[string]bool{"shop/web": true}}
	h := newTestHandler(t, assoc, false)
	raw, _ := loadPod(t, "testdata/mutate/existing-lists.pod.yaml")
	resp := admit(t, h, reviewFor(t, "shop", raw))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("response %+v: want allowed with a JSONPatch", resp)
	}
	want := decodeJSON(t, mustRead(t, "testdata/mutate/existing-lists.patch.json"))
	if d := cmp.Diff(want, decodeJSON(t, resp.Patch)); d != "" {
		t.Errorf("patch (-want +got):\n%s", d)
	}
	if _, err := applyPatch(raw, resp.Patch); err != nil {
		t.Errorf("the patch does not apply: %v", err)
	}
}

func TestHandlerLeavesPodsWithoutAssociation(t *testing.T) {
	assoc := &fakeAssociations{has: map[string]bool{"other/web": true}}
	h := newTestHandler(t, assoc, false)
	raw, _ := loadPod(t, "testdata/mutate/existing-lists.pod.yaml")
	resp := admit(t, h, reviewFor(t, "shop", raw))
	if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil || resp.Warnings != nil {
		t.Errorf("response %+v: want allowed, unchanged, silent", resp)
	}
	if assoc.calls.Load() != 1 {
		t.Errorf("%d lookups, want 1", assoc.calls.Load())
	}
}

// A pod with nothing to inject, such as a reinvocation after we injected,
// costs no lookup.
func TestHandlerSkipsLookupWhenNothingToInject(t *testing.T) {
	assoc := &fakeAssociations{has: map[string]bool{"default/app": true}}
	h := newTestHandler(t, assoc, false)
	raw, _ := loadPod(t, "testdata/mutate/already-injected.pod.yaml")
	resp := admit(t, h, reviewFor(t, "default", raw))
	if !resp.Allowed || resp.Patch != nil {
		t.Errorf("response %+v: want allowed, unchanged", resp)
	}
	if n := assoc.calls.Load(); n != 0 {
		t.Errorf("%d lookups, want none", n)
	}
}

func TestHandlerLookupFailure(t *testing.T) {
	raw, _ := loadPod(t, "testdata/mutate/minimal.pod.yaml")
	assoc := &fakeAssociations{err: errors.New("connection refused")}

	t.Run("open", func(t *testing.T) {
		resp := admit(t, newTestHandler(t, assoc, false), reviewFor(t, "default", raw))
		if !resp.Allowed || resp.Patch != nil || len(resp.Warnings) != 1 {
			t.Errorf("response %+v: want allowed, unchanged, one warning", resp)
		}
	})
	t.Run("closed", func(t *testing.T) {
		resp := admit(t, newTestHandler(t, assoc, true), reviewFor(t, "default", raw))
		if resp.Allowed || resp.Patch != nil || resp.Result == nil || resp.Result.Code != http.StatusServiceUnavailable {
			t.Fatalf("response %+v: want refused with 503", resp)
		}
		if !strings.Contains(resp.Result.Message, "default/app") || strings.Contains(resp.Result.Message, "connection refused") {
			t.Errorf("message %q: want the service account, not our internals", resp.Result.Message)
		}
	})
}

// Requests other than a pod CREATE are allowed untouched, without a lookup.
func TestHandlerIgnoresOtherRequests(t *testing.T) {
	raw, _ := loadPod(t, "testdata/mutate/minimal.pod.yaml")
	assoc := &fakeAssociations{has: map[string]bool{"default/app": true}}
	h := newTestHandler(t, assoc, false)
	for name, edit := range map[string]func(req map[string]any){
		"update":      func(req map[string]any) { req["operation"] = "UPDATE" },
		"subresource": func(req map[string]any) { req["subResource"] = "ephemeralcontainers" },
		"deployment": func(req map[string]any) {
			req["resource"] = map[string]string{"group": "apps", "version": "v1", "resource": "deployments"}
			req["kind"] = map[string]string{"group": "apps", "version": "v1", "kind": "Deployment"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			var review map[string]any
			json.Unmarshal(reviewFor(t, "default", raw), &review)
			edit(review["request"].(map[string]any))
			body, _ := json.Marshal(review)
			resp := admit(t, h, body)
			if !resp.Allowed || resp.Patch != nil {
				t.Errorf("response %+v: want allowed, unchanged", resp)
			}
		})
	}
	if n := assoc.calls.Load(); n != 0 {
		t.Errorf("%d lookups, want none", n)
	}
}

// Whatever is not a well-formed AdmissionReview gets 400 and a reason.
func TestHandlerRefusesMalformedReviews(t *testing.T) {
	raw, _ := loadPod(t, "testdata/mutate/minimal.pod.yaml")
	good := reviewFor(t, "default", raw)
	edit := func(f func(review, req map[string]any)) []byte {
		var review map[string]any
		json.Unmarshal(good, &review)
		f(review, review["request"].(map[string]any))
		b, _ := json.Marshal(review)
		return b
	}
	h := newTestHandler(t, &fakeAssociations{has: map[string]bool{"default/app": true}}, false)
	for _, tc := range []struct {
		name   string
		body   []byte
		reason string
	}{
		{"empty", nil, "not JSON"},
		{"not json", []byte("apiVersion: admission.k8s.io/v1\n"), "syntax error at byte 1"},
		{"array", []byte(`[]`), "not JSON of an AdmissionReview"},
		{"truncated", good[:len(good)/2], "not JSON"},
		{"v1beta1", edit(func(r, _ map[string]any) { r["apiVersion"] = "admission.k8s.io/v1beta1" }), `apiVersion "admission.k8s.io/v1beta1"`},
		{"wrong kind", edit(func(r, _ map[string]any) { r["kind"] = "ConversionReview" }), `kind "ConversionReview"`},
		{"no request", edit(func(r, _ map[string]any) { delete(r, "request") }), "no request"},
		{"no uid", edit(func(_, q map[string]any) { delete(q, "uid") }), "request.uid is empty"},
		{"no object", edit(func(_, q map[string]any) { delete(q, "object") }), "request.object is empty"},
		{"object not a pod", edit(func(_, q map[string]any) {
			q["object"] = map[string]any{"spec": map[string]any{"containers": "app"}}
		}), "request.object is not a Pod: spec.containers must be []v1.Container, not a JSON string"},
		{"kind not pod", edit(func(_, q map[string]any) {
			q["kind"] = map[string]string{"version": "v1", "kind": "Service"}
		}), "request.kind is /v1, Kind=Service"},
		{"uid not a string", edit(func(_, q map[string]any) { q["uid"] = 7 }), "request.uid must be"},
		{"too large", append(good, bytes.Repeat([]byte(" "), MaxReviewSize)...), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, h, "application/json", tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %s, want 400: %s", resp.Status, body)
			}
			if !strings.Contains(string(body), tc.reason) {
				t.Errorf("body %q does not say %q", body, tc.reason)
			}
		})
	}
	t.Run("content type", func(t *testing.T) {
		if resp, _ := post(t, h, "application/yaml", good); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %s, want 415", resp.Status)
		}
	})
	t.Run("GET", func(t *testing.T) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/mutate")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %s, want 405", resp.Status)
		}
	})
}

func TestNewHandlerChecksConfig(t *testing.T) {
	if _, err := NewHandler(Config{}); err == nil {
		t.Error("no association checker: no error")
	}
	if _, err := NewHandler(Config{Associations: &fakeAssociations{}, Options: Options{TokenExpiration: 60}}); err == nil {
		t.Error("bad options: no error")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealReview answers the AdmissionReview a kube-apiserver v1.34 really
// sent for a pod CREATE (captured in testdata): the patch is the golden one
// and applies to the object the API server sent.
func TestRealReview(t *testing.T) {
	body := mustRead(t, "testdata/review-pod-create.json")
	req, pod, err := DecodeReview(body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Namespace != "default" || pod == nil || pod.Name != "web-0" || pod.Spec.ServiceAccountName != "app" {
		t.Fatalf("decoded %s/%s with service account %q", req.Namespace, pod.Name, pod.Spec.ServiceAccountName)
	}
	assoc := &fakeAssociations{has: map[string]bool{"default/app": true}}
	srv := httptest.NewServer(newTestHandler(t, assoc, false))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil || review.Response == nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if review.Response.UID != req.UID || !review.Response.Allowed {
		t.Errorf("response %+v", review.Response)
	}
	golden := "testdata/review-pod-create.patch.json"
	if *update {
		var v any
		json.Unmarshal(review.Response.Patch, &v)
		b, _ := json.MarshalIndent(v, "", "  ")
		os.WriteFile(golden, append(b, '\n'), 0o644)
	}
	if d := cmp.Diff(decodeJSON(t, mustRead(t, golden)), decodeJSON(t, review.Response.Patch)); d != "" {
		t.Errorf("patch (-want +got):\n%s", d)
	}
	if _, err := applyPatch(req.Object.Raw, review.Response.Patch); err != nil {
		t.Errorf("the patch does not apply to the object the API server sent: %v", err)
	}
}

type panickingAssociations struct{}

func (panickingAssociations) HasAssociation(context.Context, string, string) (bool, error) {
	panic("bug")
}

func TestHandlerRecoversFromPanics(t *testing.T) {
	raw, _ := loadPod(t, "testdata/mutate/minimal.pod.yaml")
	resp, body := post(t, newTestHandler(t, panickingAssociations{}, false), "application/json", reviewFor(t, "default", raw))
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "bug") {
		t.Errorf("status %s, body %q: want 500 without internals", resp.Status, body)
	}
}

// A controller's pod comes without a namespace in its body; the request's
// namespace decides whether it is in a sidecar namespace.
func TestHandlerSidecarNamespaceFromRequest(t *testing.T) {
	assoc := &fakeAssociations{has: map[string]bool{"team/app": true}}
	h, err := NewHandler(Config{Associations: assoc, Options: sidecarOpts})
	if err != nil {
		t.Fatal(err)
	}
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"app-"},"spec":{"serviceAccountName":"app","containers":[{"name":"app","image":"app:1"}]}}`)
	resp := admit(t, h, reviewFor(t, "team", pod))
	if !strings.Contains(string(resp.Patch), `"name":"`+SidecarName+`"`) || !strings.Contains(string(resp.Patch), "http://127.0.0.1:2723/v1/credentials") {
		t.Errorf("pod in sidecar namespace team: patch %s", resp.Patch)
	}
}
