package iamglob

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"prod-*", "prod-eu", true},
		{"prod-*", "prod-", true},
		{"prod-*", "dev", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true}, // one character, not one byte
		{"arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:role/path/deep/name", true},
		{"arn:aws:iam::*:role/app", "arn:aws:iam::444455556666:role/app", true},
		{"arn:aws:iam::*:role/app", "arn:aws:iam::444455556666:role/app2", false},
		{"*a*b*c", "xxaxxbxxcxxc", true},
		{"*a*b*c", "xxaxxbxxcxxd", false},
		{"[a]", "a", false}, // brackets are literal in IAM
		{"[a]", "[a]", true},
		{`a\*`, `a\bc`, true},
		// Resource names are case-sensitive.
		{"Prod", "prod", false},
		{"arn:aws:iam::111122223333:role/ci-*", "arn:aws:iam::111122223333:role/CI-admin", false},
	}
	for _, tc := range tests {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestMatchAction(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"eks:*", "eks:CreatePodIdentityAssociation", true},
		{"EKS:createpodidentityassociation", "eks:CreatePodIdentityAssociation", true},
		{"eks:List*", "eks:ListPodIdentityAssociations", true},
		{"eks:List*", "eks:DescribeCluster", false},
		{"eks:*", "eks-auth:AssumeRoleForPodIdentity", false},
		{"eks:Describe?luster", "eks:DescribeCluster", true},
	}
	for _, tc := range tests {
		if got := MatchAction(tc.pattern, tc.s); got != tc.want {
			t.Errorf("MatchAction(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// A pattern of many stars against a long near-miss must not backtrack
// exponentially.
func TestMatchIsNotExponential(t *testing.T) {
	pattern := strings.Repeat("*a", 30) + "b"
	s := strings.Repeat("a", 5000)
	if Match(pattern, s) {
		t.Fatal("matched")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if Match(pattern, s) != Match(pattern, s) {
			t.Fatal("not deterministic")
		}
		if !strings.ContainsAny(pattern, "*?") && Match(pattern, s) != (pattern == s) {
			t.Fatal("literal pattern")
		}
		if !Match("*", s) {
			t.Fatal("* must match everything")
		}
	})
}
