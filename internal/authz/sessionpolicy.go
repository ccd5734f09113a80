package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/podidentity/podidentity/internal/iamglob"
)

// A session policy is the inline policy of an association, sealed into the
// sessions this server mints for it. On this server's own APIs it limits
// the session the way IAM limits a role session with one: the session may
// do what both the role's grant (auth.roles) and one of the policy's Allow
// statements allow, and an explicit Deny wins. A policy without an Allow
// statement (Deny statements only, or none) therefore allows nothing.
//
// What IAM would evaluate and we cannot errs towards refusal: a statement
// with a Condition, or with a policy variable (${...}) in Action, NotAction,
// Resource or NotResource, never allows; a Deny with a Condition denies
// whenever it matches, and one with a variable matches as if the variable
// stood for whatever would make it deny. A policy that does not parse as IAM
// reads it (element names are exact, each given once) denies everything.
type sessionPolicy struct {
	statements []statement
}

type statement struct {
	allow       bool
	conditional bool
	actions     []string // Action, or NotAction when notAction
	notAction   bool
	resources   []string // Resource, or NotResource when notResource
	notResource bool
}

// verdict is a session policy's answer for one request.
type verdict int

const (
	verdictAllow    verdict = iota // allowed, or not restricted
	verdictNoAllow                 // no Allow statement matches
	verdictExplicit                // a Deny statement matches
)

var errPolicyShape = errors.New("not an IAM policy document")

// The elements IAM reads in a session policy's document and statements.
// Principal and NotPrincipal are not among them: IAM refuses them there.
var (
	documentElements  = []string{"Version", "Id", "Statement"}
	statementElements = []string{"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)

// parseSessionPolicy reads the policy grammar IAM accepts: Statement an
// object or a list, Action/NotAction/Resource/NotResource a string or a
// list of strings.
func parseSessionPolicy(doc string) (*sessionPolicy, error) {
	raw, err := members([]byte(doc), documentElements)
	if err != nil {
		return nil, err
	}
	var list []json.RawMessage
	switch trimmed := bytes.TrimSpace(raw["Statement"]); {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: no Statement", errPolicyShape)
	case trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, err
		}
	default:
		list = []json.RawMessage{trimmed}
	}
	p := &sessionPolicy{}
	for _, r := range list {
		st, err := parseStatement(r)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(r json.RawMessage) (statement, error) {
	m, err := members(r, statementElements)
	if err != nil {
		return statement{}, err
	}
	var s struct {
		Effect                                   string
		Action, NotAction, Resource, NotResource stringList
	}
	for _, e := range []struct {
		name string
		dst  any
	}{{"Effect", &s.Effect}, {"Action", &s.Action}, {"NotAction", &s.NotAction}, {"Resource", &s.Resource}, {"NotResource", &s.NotResource}} {
		if v, ok := m[e.name]; ok {
			if err := json.Unmarshal(v, e.dst); err != nil {
				return statement{}, fmt.Errorf("%w: %s: %v", errPolicyShape, e.name, err)
			}
		}
	}
	cond := bytes.TrimSpace(m["Condition"])
	st := statement{conditional: len(cond) > 0 && string(cond) != "null" && string(cond) != "{}"}
	switch s.Effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return statement{}, fmt.Errorf("%w: Effect %q", errPolicyShape, s.Effect)
	}
	switch {
	case s.Action != nil && s.NotAction == nil:
		st.actions = s.Action
	case s.NotAction != nil && s.Action == nil:
		st.actions, st.notAction = s.NotAction, true
	default:
		return statement{}, fmt.Errorf("%w: a statement needs exactly one of Action and NotAction", errPolicyShape)
	}
	switch {
	case s.Resource != nil && s.NotResource == nil:
		st.resources = s.Resource
	case s.NotResource != nil && s.Resource == nil:
		st.resources, st.notResource = s.NotResource, true
	default:
		return statement{}, fmt.Errorf("%w: a statement needs exactly one of Resource and NotResource", errPolicyShape)
	}
	if hasVariable(st.actions) || hasVariable(st.resources) {
		// IAM would substitute the request's values; we have none.
		st.conditional = true
		st.actions = widen(st.actions, st.notAction)
		st.resources = widen(st.resources, st.notResource)
	}
	return st, nil
}

// evaluate answers for action on resource.
func (p *sessionPolicy) evaluate(action, resource string) verdict {
	allowed := false
	for _, s := range p.statements {
		if !s.matches(action, resource) {
			continue
		}
		if !s.allow {
			return verdictExplicit
		}
		if !s.conditional {
			allowed = true
		}
	}
	if !allowed {
		return verdictNoAllow
	}
	return verdictAllow
}

// matches ignores Condition; evaluate decides what a conditional statement
// is worth.
func (s statement) matches(action, resource string) bool {
	if iamglob.MatchAnyAction(s.actions, action) == s.notAction {
		return false
	}
	return iamglob.MatchAny(s.resources, resource) != s.notResource
}

// stringList is a policy element that may be a string or a list of them.
// nil means absent.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return fmt.Errorf("%w: null where a string or a list of strings belongs", errPolicyShape)
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("%w: want a string or a list of strings", errPolicyShape)
	}
	if many == nil {
		many = []string{}
	}
	*l = many
	return nil
}

// members reads a JSON object's members by their exact names, as IAM does.
// encoding/json alone would match "action" to Action case-insensitively,
// the last spelling winning, so that a Deny's "Action" could be replaced by
// an "action" IAM ignores; here an element IAM does not know, or one given
// twice, makes the policy malformed.
func members(b []byte, known []string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: want an object", errPolicyShape)
	}
	out := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // a well-formed object's keys are strings
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%w: unknown element %q", errPolicyShape, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: element %q given twice", errPolicyShape, name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", errPolicyShape)
	}
	return out, nil
}

// variable is an IAM policy variable, ${aws:username} or ${x, 'default'}.
var variable = regexp.MustCompile(`\$\{[^}]*\}`)

func hasVariable(patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return strings.Contains(p, "${") })
}

// widen makes a statement with variables match at least whatever it would
// match once they were substituted, so that as a Deny it denies no less:
// in Action or Resource a variable becomes '*' (an unterminated one, the
// whole pattern); in NotAction or NotResource a pattern with one is left
// out, so that the statement excludes no more than it would.
func widen(patterns []string, not bool) []string {
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if !strings.Contains(p, "${") {
			out = append(out, p)
			continue
		}
		if not {
			continue
		}
		p = variable.ReplaceAllString(p, "*")
		if strings.Contains(p, "${") {
			p = "*"
		}
		out = append(out, p)
	}
	return out
}
