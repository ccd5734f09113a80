package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/podidentity/podidentity/internal/iamglob"
)

// A session policy is the inline policy of an association, sealed into the
// sessions this server mints for it. On this server's own APIs it limits
// the session the way IAM limits a role session with one: an explicit Deny
// wins; when the policy has Allow statements, an action must be allowed
// both by the role's grant (auth.roles) and by one of them. A policy with
// Deny statements only takes away and leaves the grant as it is.
//
// What IAM would evaluate and we cannot (Condition blocks) errs towards
// refusal: an Allow with a Condition allows nothing, a Deny with one always
// denies. A policy that does not parse denies everything.
type sessionPolicy struct {
	statements []statement
	hasAllow   bool
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
	verdictNoAllow                 // the policy has Allow statements and none matches
	verdictExplicit                // a Deny statement matches
)

var errPolicyShape = errors.New("not an IAM policy document")

// parseSessionPolicy reads the policy grammar IAM accepts: Statement an
// object or a list, Action/NotAction/Resource/NotResource a string or a
// list of strings.
func parseSessionPolicy(doc string) (*sessionPolicy, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, err
	}
	var list []json.RawMessage
	switch trimmed := bytes.TrimSpace(raw.Statement); {
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
		var s struct {
			Effect      string
			Action      stringList
			NotAction   stringList
			Resource    stringList
			NotResource stringList
			Condition   json.RawMessage
		}
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, err
		}
		st := statement{conditional: len(s.Condition) > 0 && string(s.Condition) != "null" && string(bytes.TrimSpace(s.Condition)) != "{}"}
		switch s.Effect {
		case "Allow":
			st.allow = true
			p.hasAllow = true
		case "Deny":
		default:
			return nil, fmt.Errorf("%w: Effect %q", errPolicyShape, s.Effect)
		}
		switch {
		case s.Action != nil && s.NotAction == nil:
			st.actions = s.Action
		case s.NotAction != nil && s.Action == nil:
			st.actions, st.notAction = s.NotAction, true
		default:
			return nil, fmt.Errorf("%w: a statement needs exactly one of Action and NotAction", errPolicyShape)
		}
		switch {
		case s.Resource != nil && s.NotResource == nil:
			st.resources = s.Resource
		case s.NotResource != nil && s.Resource == nil:
			st.resources, st.notResource = s.NotResource, true
		default:
			return nil, fmt.Errorf("%w: a statement needs exactly one of Resource and NotResource", errPolicyShape)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
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
	if p.hasAllow && !allowed {
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
