// Package iamglob is IAM's wildcard matching, shared by the authorizer and
// the configuration checks so that both read a pattern the same way: '*'
// matches any run of characters (including '/' and ':'), '?' exactly one
// character, everything else itself. Brackets and backslashes are literal,
// as in IAM.
//
// Resource names (cluster names, role ARNs) compare case-sensitively, as
// IAM compares ARNs; only action names ignore case ("eks:createpod..." is
// "eks:CreatePod..."), which is what MatchAction is for.
package iamglob

import (
	"strings"
	"unicode/utf8"
)

// Match reports whether s matches pattern, case-sensitively.
func Match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	// Greedy matching with one backtrack point, the last '*': linear in
	// practice and never exponential, whatever the pattern.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == '?':
			_, n := utf8.DecodeRuneInString(s[i:])
			p, i = p+1, i+n
		case p < len(pattern) && pattern[p] == s[i]:
			p, i = p+1, i+1
		case star >= 0:
			// Let the last '*' swallow one more character and retry.
			_, n := utf8.DecodeRuneInString(s[mark:])
			mark += n
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchAction reports whether an IAM action matches an action pattern.
// Action names are case-insensitive in IAM.
func MatchAction(pattern, action string) bool {
	return Match(strings.ToLower(pattern), strings.ToLower(action))
}

// MatchAny reports whether s matches any of patterns, case-sensitively.
func MatchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// MatchAnyAction reports whether action matches any of patterns.
func MatchAnyAction(patterns []string, action string) bool {
	for _, p := range patterns {
		if MatchAction(p, action) {
			return true
		}
	}
	return false
}
