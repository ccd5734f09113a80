package podidentity

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSessionShapeRefusals(t *testing.T) {
	tooMany := map[string]string{}
	for i := range 45 {
		tooMany[fmt.Sprintf("%sk%02d", TagSessionTagPrefix, i)] = "v"
	}
	tests := []struct {
		name    string
		tags    map[string]string
		disable bool
		want    string // in the message; "" = accepted
	}{
		{"plain tags", map[string]string{"team": "x"}, false, ""},
		{"name and tags", map[string]string{TagSessionName: "{namespace}-{serviceAccount}", TagSessionTagPrefix + "team": "a-{podName}", TagTransitiveSessionTags: "team"}, false, ""},
		{"name with session tags off", map[string]string{TagSessionName: "fixed"}, true, ""},
		{"unknown variable", map[string]string{TagSessionName: "{namespce}"}, false, "tag podidentity.io/session-name: unknown template variable {namespce}"},
		{"unmatched brace", map[string]string{TagSessionTagPrefix + "a": "x{cluster"}, false, "unmatched {"},
		{"empty name", map[string]string{TagSessionName: " "}, false, "empty"},
		{"EKS tag", map[string]string{TagSessionTagPrefix + "Kubernetes-Namespace": "x"}, false, "tag podidentity.io/session-tag/Kubernetes-Namespace: kubernetes-namespace is one of the six EKS session tags"},
		{"aws prefix", map[string]string{TagSessionTagPrefix + "aws:x": "x"}, false, "reserved"},
		{"bad key char", map[string]string{TagSessionTagPrefix + "a*b": "x"}, false, "characters STS refuses"},
		{"bad value char", map[string]string{TagSessionTagPrefix + "a": "x#y"}, false, "characters STS refuses"},
		{"empty key", map[string]string{TagSessionTagPrefix: "x"}, false, "names no session tag key"},
		{"case twins", map[string]string{TagSessionTagPrefix + "Team": "x", TagSessionTagPrefix + "team": "y"}, false, "only in case"},
		{"too many", tooMany, false, "45 custom session tags and the 6 EKS session tags make 51"},
		{"custom with tags off", map[string]string{TagSessionTagPrefix + "team": "x"}, true, "tag podidentity.io/session-tag/team: custom session tags need session tags"},
		{"transitive unknown", map[string]string{TagTransitiveSessionTags: "team"}, false, `"team" is not a custom session tag`},
		{"unknown reserved", map[string]string{"podidentity.io/sesion-name": "x"}, false, "tag podidentity.io/sesion-name: unknown reserved tag"},
		{"prefix in another case", map[string]string{"PodIdentity.io/session-name": "x"}, false, "tag PodIdentity.io/session-name: unknown reserved tag"},
		{"key in another case", map[string]string{"podidentity.io/Session-Tag/team": "x"}, false, "tag podidentity.io/Session-Tag/team: unknown reserved tag"},
	}
	for _, tc := range tests {
		_, err := parseSessionShape(tc.tags, tc.disable)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want != "" && (ErrorCode(err) != CodeInvalidParameter || !strings.Contains(ErrorMessage(err), tc.want)):
			t.Errorf("%s: %v, want InvalidParameter with %q", tc.name, err, tc.want)
		}
	}
}

func TestSessionShapeApply(t *testing.T) {
	shape, err := parseSessionShape(map[string]string{
		TagSessionName:                 "{cluster}-{namespace}-{serviceAccount}",
		TagSessionTagPrefix + "team":   "payments",
		TagSessionTagPrefix + "origin": "{namespace}/{podName}",
		TagTransitiveSessionTags:       " team ,",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	req := &CredentialRequest{SessionTags: map[string]string{TagNamespace: "shop"}}
	shape.apply(req, sessionVars{cluster: "prod", namespace: "shop", serviceAccount: "cart", podName: "web-0"})
	if req.SessionName != "prod-shop-cart" || !req.StableSessionName {
		t.Errorf("session name %q stable=%v", req.SessionName, req.StableSessionName)
	}
	if diff := cmp.Diff(map[string]string{TagNamespace: "shop", "team": "payments", "origin": "shop/web-0"}, req.SessionTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	want := []string{TagClusterARN, TagClusterName, TagNamespace, TagPodName, TagPodUID, TagServiceAccount, "team"}
	if diff := cmp.Diff(want, req.TransitiveTagKeys); diff != "" {
		t.Errorf("transitive (-want +got):\n%s", diff)
	}
	// Session tags disabled: the name still applies, no tags appear.
	off := &CredentialRequest{}
	shape.apply(off, sessionVars{cluster: "prod", namespace: "shop", serviceAccount: "cart"})
	if off.SessionTags != nil || off.TransitiveTagKeys != nil || off.SessionName != "prod-shop-cart" {
		t.Errorf("with tags off: %+v", off)
	}
}

func TestSessionNameShortenedDeterministically(t *testing.T) {
	shape := &sessionShape{nameTemplate: "{namespace}:{serviceAccount}"}
	long := sessionVars{namespace: strings.Repeat("n", 63), serviceAccount: strings.Repeat("s", 40)}
	a, b := shape.sessionName(long), shape.sessionName(long)
	if a != b || !validSessionName(a) || len(a) != maxSessionNameLen {
		t.Fatalf("names %q and %q: want equal, legal and 64 long", a, b)
	}
	other := shape.sessionName(sessionVars{namespace: strings.Repeat("n", 63), serviceAccount: strings.Repeat("s", 41)})
	if other == a {
		t.Errorf("two names shortened to the same %q", a)
	}
	// ':' is illegal: replaced, and the hash keeps x:y apart from x-y.
	colon, dash := shape.sessionName(sessionVars{namespace: "x", serviceAccount: "y"}), (&sessionShape{nameTemplate: "x-y"}).sessionName(sessionVars{})
	if !validSessionName(colon) || colon == dash || !strings.HasPrefix(colon, "x-y-") {
		t.Errorf("x:y became %q (x-y is %q)", colon, dash)
	}
	if got := (&sessionShape{nameTemplate: "a"}).sessionName(sessionVars{}); !validSessionName(got) {
		t.Errorf("one-character name became %q", got)
	}
	tag := customSessionTag{key: "k", valueTemplate: strings.Repeat("v", 250) + "{podName}"}
	v := shape.sessionTagValue(tag, sessionVars{podName: "web-0123456789"})
	if len(v) != maxSessionTagValue || v != shape.sessionTagValue(tag, sessionVars{podName: "web-0123456789"}) {
		t.Errorf("long value: %d characters", len(v))
	}
}
