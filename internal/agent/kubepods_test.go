package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// APIServerPods reads the API server's answers as the API server means
// them, and takes nothing but a positive answer for "gone". The real
// kube-apiserver is in test/kube (TestAgentPodCheck).
func TestAPIServerPodsAnswers(t *testing.T) {
	const notFound = `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"web-0\" not found","reason":"NotFound","details":{"name":"web-0","kind":"pods"},"code":404}`
	meta := func(uid string) string {
		return `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web-0","namespace":"default","uid":"` + uid + `"}}`
	}
	tests := []struct {
		name    string
		status  int
		body    string
		gone    bool
		wantErr string
	}{
		{"alive", 200, meta("uid-1"), false, ""},
		{"name reused by another UID", 200, meta("uid-2"), true, ""},
		{"deleted", 404, notFound, true, ""},
		{"404 from something else", 404, "404 page not found", false, "404 Not Found"},
		{"forbidden", 403, `{"kind":"Status","message":"pods \"web-0\" is forbidden: User \"system:serviceaccount:podidentity:agent\" cannot get resource \"pods\"","reason":"Forbidden","code":403}`,
			false, `cannot get resource "pods"`},
		{"server error", 500, "oops", false, "500"},
		{"another object", 200, `{"kind":"PartialObjectMetadata","metadata":{"name":"default","uid":"uid-2"}}`, false, "not that pod's metadata"},
		{"no UID", 200, `{"metadata":{"name":"web-0"}}`, false, "not that pod's metadata"},
		{"not JSON", 200, "<html>", false, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.EscapedPath() != "/api/v1/namespaces/default/pods/web-0" || !strings.Contains(r.Header.Get("Accept"), "as=PartialObjectMetadata") {
					t.Errorf("%s %s Accept %q", r.Method, r.URL, r.Header.Get("Accept"))
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			p := &APIServerPods{URL: srv.URL + "/", Client: srv.Client()}
			gone, err := p.PodGone(context.Background(), "default", "web-0", "uid-1")
			if gone != tt.gone || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("PodGone = %v, %v; want %v, an error containing %q", gone, err, tt.gone, tt.wantErr)
			}
		})
	}
}

// A name that is not a Kubernetes name never becomes a path: ".." would
// ask about another object, whose different UID would read as "gone".
func TestAPIServerPodsRefusesOddNames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("asked the API server %s", r.URL)
	}))
	defer srv.Close()
	p := &APIServerPods{URL: srv.URL, Client: srv.Client()}
	for _, ref := range []podRef{{"default", "..", "u"}, {"..", "web-0", "u"}, {"default", "a/b", "u"}, {"default", "web-0", ""}, {"", "web-0", "u"}} {
		if gone, err := p.PodGone(context.Background(), ref.namespace, ref.name, ref.uid); gone || err == nil {
			t.Errorf("PodGone(%q, %q, %q) = %v, %v; want an error", ref.namespace, ref.name, ref.uid, gone, err)
		}
	}
}
