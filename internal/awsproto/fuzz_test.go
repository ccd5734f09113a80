package awsproto

import (
	"bytes"
	"encoding/json"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

type fuzzShape struct {
	Namespace          *string           `json:"namespace"`
	ServiceAccount     *string           `json:"serviceAccount"`
	RoleARN            *string           `json:"roleArn"`
	DisableSessionTags *bool             `json:"disableSessionTags"`
	Tags               map[string]string `json:"tags"`
	MaxResults         int               `json:"maxResults"`
	Keys               []string          `json:"tagKeys"`
}

// FuzzDecodeJSON: no input may panic, and every failure is a client error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"namespace":"a","tags":{"k":"v"}}`, `{"a":1,"a":2}`, `[[[[`, `{"maxResults":1e999}`, `{"tagKeys":["a",null]}`, "\x00", `{"tags":{"":""}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v fuzzShape
		err := DecodeJSON(body, &v)
		if err == nil {
			return
		}
		if c := pi.ErrorCode(err); c != pi.CodeInvalidRequest && c != pi.CodeInvalidParameter {
			t.Fatalf("DecodeJSON(%q) = %v: a body must never cause a %s error", body, err, c)
		}
	})
}

// duplicateKeysOracle finds duplicate keys and depth the slow, obviously
// right way, with encoding/json's tokenizer; valid documents only.
func duplicateKeysOracle(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object, keyNext bool
		keys            map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].keyNext {
			top := stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.keyNext = false
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].keyNext = true
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return true
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keyNext: true, keys: map[string]bool{}})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// FuzzCheckJSONStructure: on valid JSON the one-pass scanner must agree
// with the tokenizer oracle about duplicates and depth.
func FuzzCheckJSONStructure(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"a":1},"b":[{"a":1,"a":2}]}`, `{"\u0061":1,"a":2}`, `{"a\"b":1,"a\"b":2}`, `[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]`, `{"k":"{\"a\":1,\"a\":2}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			checkJSONStructure(body) // must not panic
			return
		}
		got := checkJSONStructure(body) != nil
		if want := duplicateKeysOracle(body); got != want {
			t.Fatalf("checkJSONStructure(%q) refused=%v, oracle says %v", body, got, want)
		}
	})
}
