package podidentity

import "strings"

// Pattern associations (server option associations.patterns) have a
// namespace or service account with '*' (any run of characters, the empty
// one included) or '?' (exactly one character). Neither is legal in a
// Kubernetes name, so a pattern can never be mistaken for an exact name,
// and with the option off both stay refused as invalid names, as on AWS.

// IsPattern reports whether a namespace or service account is a pattern.
func IsPattern(name string) bool { return strings.ContainsAny(name, "*?") }

// IsPattern reports whether the association's namespace or service account
// is a pattern.
func (a *Association) IsPattern() bool {
	return IsPattern(a.Namespace) || IsPattern(a.ServiceAccount)
}

// matchRank orders the associations matching one service account. The
// higher rank wins: an exact namespace beats a pattern, then an exact
// service account beats a pattern, then more literal characters (both
// names together) beat fewer.
type matchRank struct {
	exactNamespace, exactServiceAccount bool
	literals                            int
}

func rankOf(a *Association) matchRank {
	return matchRank{
		exactNamespace:      !IsPattern(a.Namespace),
		exactServiceAccount: !IsPattern(a.ServiceAccount),
		literals:            literals(a.Namespace) + literals(a.ServiceAccount),
	}
}

func literals(p string) int { return len(p) - strings.Count(p, "*") - strings.Count(p, "?") }

func (r matchRank) compare(o matchRank) int {
	b := func(x bool) int {
		if x {
			return 1
		}
		return 0
	}
	if c := b(r.exactNamespace) - b(o.exactNamespace); c != 0 {
		return c
	}
	if c := b(r.exactServiceAccount) - b(o.exactServiceAccount); c != 0 {
		return c
	}
	return r.literals - o.literals
}

// Ambiguous reports whether a and b have the same rank and some
// (namespace, service account) matches both: the pair a create refuses, so
// that resolution never has to break a tie. Stores call it inside the
// transaction that inserts a pattern association.
func Ambiguous(a, b *Association) bool {
	return rankOf(a) == rankOf(b) && globsOverlap(a.Namespace, b.Namespace) && globsOverlap(a.ServiceAccount, b.ServiceAccount)
}

// bestMatch returns the highest-ranked association of candidates matching
// key, nil when none does. Creates refuse equal ranks that overlap; should
// a tie exist anyway (rows loaded with `podidentity import`), the smaller
// (namespace, service account) wins, so every replica picks the same one.
func bestMatch(candidates []Association, key AssociationKey) *Association {
	var best *Association
	for i := range candidates {
		c := &candidates[i]
		if !globMatch(c.Namespace, key.Namespace) || !globMatch(c.ServiceAccount, key.ServiceAccount) {
			continue
		}
		if best == nil {
			best = c
			continue
		}
		switch cmp := rankOf(c).compare(rankOf(best)); {
		case cmp > 0, cmp == 0 && (c.Namespace < best.Namespace || c.Namespace == best.Namespace && c.ServiceAccount < best.ServiceAccount):
			best = c
		}
	}
	return best
}

// globMatch reports whether name matches pattern. It backtracks only to
// the last '*', which keeps it linear in practice and at worst
// len(pattern)*len(name): both are bounded by Kubernetes' name lengths.
func globMatch(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// globsOverlap reports whether some string matches both patterns (an exact
// name is a pattern without wildcards). It walks the product of the two
// patterns' positions: at most 64×64 for namespaces and 254×254 for
// service accounts.
func globsOverlap(p, q string) bool {
	type state struct{ i, j int }
	seen := make(map[state]bool)
	stack := []state{{0, 0}}
	push := func(s state) {
		if !seen[s] {
			seen[s] = true
			stack = append(stack, s)
		}
	}
	seen[state{0, 0}] = true
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.i == len(p) && s.j == len(q) {
			return true
		}
		// A '*' may match nothing more.
		if s.i < len(p) && p[s.i] == '*' {
			push(state{s.i + 1, s.j})
		}
		if s.j < len(q) && q[s.j] == '*' {
			push(state{s.i, s.j + 1})
		}
		// Or both consume one character, if some character fits both.
		if s.i < len(p) && s.j < len(q) {
			a, b := p[s.i], q[s.j]
			if a == '*' || a == '?' || b == '*' || b == '?' || a == b {
				ni, nj := s.i+1, s.j+1
				if a == '*' {
					ni = s.i
				}
				if b == '*' {
					nj = s.j
				}
				if ni != s.i || nj != s.j {
					push(state{ni, nj})
				}
			}
		}
	}
	return false
}

// validateNamePattern checks a namespace or service account pattern: what
// is not a wildcard must be a character a name of that kind may have, and
// the pattern no longer than the longest such name.
func validateNamePattern(field, p string, max int, allowed string) error {
	if len(p) > max {
		return Errorf(CodeInvalidParameter, "%s pattern %q is longer than %d characters", field, clip(p), max)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '*' || c == '?' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || strings.IndexByte(allowed, c) >= 0 {
			continue
		}
		return Errorf(CodeInvalidParameter, "%s pattern %q has %q: patterns are lowercase alphanumerics, %q, '*' (any run of characters) and '?' (one character)",
			field, clip(p), c, allowed)
	}
	return nil
}
