package webhook

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
)

// loadPod reads a pod manifest from testdata and returns it as the API
// server would send it (JSON) and decoded.
func loadPod(t testing.TB, path string) ([]byte, *corev1.Pod) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return raw, &pod
}

// applyPatch applies a JSON Patch of "add" operations (RFC 6902 §4.1) to
// doc, strictly: the parent of every path must exist and an array index
// must be within the array or "-". It is the check that our patches are
// valid, independent of the code that makes them.
func applyPatch(doc, patch []byte) ([]byte, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	var ops []struct {
		Op    string           `json:"op"`
		Path  string           `json:"path"`
		Value *json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	for i, op := range ops {
		if op.Op != "add" {
			return nil, fmt.Errorf("op %d: %q is not add", i, op.Op)
		}
		if op.Value == nil {
			return nil, fmt.Errorf("op %d: no value", i)
		}
		var v any
		if err := json.Unmarshal(*op.Value, &v); err != nil {
			return nil, fmt.Errorf("op %d: value: %w", i, err)
		}
		if !strings.HasPrefix(op.Path, "/") {
			return nil, fmt.Errorf("op %d: path %q does not start with /", i, op.Path)
		}
		tokens := strings.Split(op.Path[1:], "/")
		for j := range tokens {
			tokens[j] = strings.NewReplacer("~1", "/", "~0", "~").Replace(tokens[j])
		}
		var err error
		root, err = add(root, tokens, v)
		if err != nil {
			return nil, fmt.Errorf("op %d (%s): %w", i, op.Path, err)
		}
	}
	return json.Marshal(root)
}

func add(node any, tokens []string, v any) (any, error) {
	tok := tokens[0]
	last := len(tokens) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			n[tok] = v
			return n, nil
		}
		child, ok := n[tok]
		if !ok {
			return nil, fmt.Errorf("member %q does not exist", tok)
		}
		c, err := add(child, tokens[1:], v)
		if err != nil {
			return nil, err
		}
		n[tok] = c
		return n, nil
	case []any:
		var idx int
		if tok == "-" {
			if !last {
				return nil, fmt.Errorf("- is only valid as the last token")
			}
			idx = len(n)
		} else {
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i > len(n) || (!last && i == len(n)) || (tok != "0" && strings.HasPrefix(tok, "0")) {
				return nil, fmt.Errorf("bad array index %q for an array of %d", tok, len(n))
			}
			idx = i
		}
		if last {
			n = append(n[:idx], append([]any{v}, n[idx:]...)...)
			return n, nil
		}
		c, err := add(n[idx], tokens[1:], v)
		if err != nil {
			return nil, err
		}
		n[idx] = c
		return n, nil
	}
	return nil, fmt.Errorf("cannot descend into %T at %q", node, tok)
}

func TestApplyPatch(t *testing.T) {
	for _, tc := range []struct {
		doc, patch, want string
		err              bool
	}{
		{doc: `{"a":[1]}`, patch: `[{"op":"add","path":"/a/-","value":2}]`, want: `{"a":[1,2]}`},
		{doc: `{"a":[1]}`, patch: `[{"op":"add","path":"/a/0","value":0}]`, want: `{"a":[0,1]}`},
		{doc: `{}`, patch: `[{"op":"add","path":"/a","value":[1]}]`, want: `{"a":[1]}`},
		{doc: `{"a":null}`, patch: `[{"op":"add","path":"/a","value":[1]}]`, want: `{"a":[1]}`},
		{doc: `{}`, patch: `[{"op":"add","path":"/a/-","value":1}]`, err: true},
		{doc: `{"a":[1]}`, patch: `[{"op":"add","path":"/a/2","value":1}]`, err: true},
		{doc: `{"a":{}}`, patch: `[{"op":"add","path":"/a/b/c","value":1}]`, err: true},
		{doc: `{}`, patch: `[{"op":"replace","path":"/a","value":1}]`, err: true},
	} {
		got, err := applyPatch([]byte(tc.doc), []byte(tc.patch))
		if tc.err {
			if err == nil {
				t.Errorf("applyPatch(%s, %s) = %s, want an error", tc.doc, tc.patch, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("applyPatch(%s, %s) = %s, %v; want %s", tc.doc, tc.patch, got, err, tc.want)
		}
	}
}
