package podidentity

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"team-*", "team-a", true}, {"team-*", "team-", true},
		{"team-*", "teams", false}, {"?", "a", true}, {"?", "", false}, {"a?c", "abc", true},
		{"*-api", "web-api", true}, {"*-api", "web-apix", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false},
		{"exact", "exact", true}, {"exact", "exac", false}, {"**", "x", true},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.ok {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestGlobsOverlap(t *testing.T) {
	for _, tc := range []struct {
		p, q string
		ok   bool
	}{
		{"team-*", "*-api", true}, {"team-*", "prod-*", false}, {"a?", "?b", true}, {"a?", "b?", false},
		{"*", "exact", true}, {"ab", "ab", true}, {"ab", "ac", false}, {"a*", "*a", true}, {"a?c", "a*d", false},
		{"x*y*z", "*q*", true}, {"???", "*", true}, {"???", "??", false}, {"a*", "b*", false},
	} {
		if got := globsOverlap(tc.p, tc.q); got != tc.ok {
			t.Errorf("globsOverlap(%q, %q) = %v", tc.p, tc.q, got)
		}
		if got := globsOverlap(tc.q, tc.p); got != tc.ok {
			t.Errorf("globsOverlap(%q, %q) = %v (reversed)", tc.q, tc.p, got)
		}
	}
	// Long patterns stay cheap: the product of positions is bounded.
	long := strings.Repeat("a*", 120)
	if !globsOverlap(long, strings.Repeat("*a", 120)) {
		t.Error("long patterns do not overlap")
	}
}

func TestBestMatchPrecedence(t *testing.T) {
	as := []Association{
		{AssociationID: "any", Namespace: "*", ServiceAccount: "*"},
		{AssociationID: "team", Namespace: "team-*", ServiceAccount: "*"},
		{AssociationID: "team-web", Namespace: "team-*", ServiceAccount: "web"},
		{AssociationID: "prod-any", Namespace: "prod", ServiceAccount: "*"},
		{AssociationID: "prod-api", Namespace: "prod", ServiceAccount: "*-api"},
	}
	for _, tc := range []struct{ ns, sa, want string }{
		{"other", "x", "any"},
		{"team-a", "x", "team"},
		{"team-a", "web", "team-web"},   // exact service account beats a pattern
		{"prod", "web", "prod-any"},     // exact namespace beats any namespace pattern
		{"prod", "web-api", "prod-api"}, // more literal characters
	} {
		got := bestMatch(as, AssociationKey{Namespace: tc.ns, ServiceAccount: tc.sa})
		if got == nil || got.AssociationID != tc.want {
			t.Errorf("%s/%s matched %+v, want %s", tc.ns, tc.sa, got, tc.want)
		}
	}
	a := func(ns, sa string) *Association { return &Association{Namespace: ns, ServiceAccount: sa} }
	for _, tc := range []struct {
		a, b *Association
		want bool
	}{
		{a("team-*", "*"), a("*-prod", "*"), true},        // team-prod matched by both, 5 literals each
		{a("team-*", "*"), a("*-production", "*"), false}, // more literals: ranks differ
		{a("prod", "web-*"), a("prod", "*-api"), true},
		{a("prod", "web-*"), a("prod", "*-apix"), false},
		{a("prod", "web-*"), a("dev", "web-*"), false}, // exact namespaces differ
		{a("team-*", "web"), a("team-*", "*"), false},  // exact service account outranks
	} {
		if got := Ambiguous(tc.a, tc.b); got != tc.want {
			t.Errorf("Ambiguous(%v, %v) = %v", *tc.a, *tc.b, got)
		}
	}
}

func TestValidateNames(t *testing.T) {
	for _, tc := range []struct {
		ns, sa   string
		patterns bool
		ok       bool
	}{
		{"team-*", "*", true, true}, {"team-*", "*", false, false}, {"ns", "web-?", true, true},
		{"ns", "a.b*", true, true}, {"Team-*", "*", true, false}, {"ns.x*", "*", true, false},
		{strings.Repeat("a", 63) + "*", "*", true, false}, {"ns", "", true, false},
	} {
		if err := validateNames(tc.ns, tc.sa, tc.patterns); (err == nil) != tc.ok {
			t.Errorf("validateNames(%q, %q, %v) = %v, want ok=%v", tc.ns, tc.sa, tc.patterns, err, tc.ok)
		}
	}
}
