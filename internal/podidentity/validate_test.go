package podidentity

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoleARNParam(t *testing.T) {
	tests := []struct {
		arn  string
		want RoleARN
		ok   bool
	}{
		{"arn:aws:iam::111122223333:role/app", RoleARN{Partition: "aws", Account: "111122223333", Path: "/", Name: "app"}, true},
		{"arn:aws:iam::111122223333:role/path/to/My.Role+x@y", RoleARN{Partition: "aws", Account: "111122223333", Path: "/path/to/", Name: "My.Role+x@y"}, true},
		{"arn:aws-cn:iam::111122223333:role/r", RoleARN{Partition: "aws-cn", Account: "111122223333", Path: "/", Name: "r"}, true},
		{"arn:aws-us-gov:iam::111122223333:role/r", RoleARN{Partition: "aws-us-gov", Account: "111122223333", Path: "/", Name: "r"}, true},
		{"arn:aws:iam::111122223333:user/bob", RoleARN{}, false},
		{"arn:aws:iam::11112222333:role/r", RoleARN{}, false},
		{"arn:aws:iam:us-east-1:111122223333:role/r", RoleARN{}, false},
		{"arn:aws:sts::111122223333:role/r", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/" + strings.Repeat("a", 65), RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/sp ace", RoleARN{}, false},
		// Refused here because no credential backend could use them.
		{"arn:aws:iam::111122223333:role/a//b", RoleARN{}, false},
		{"arn:aws:iam::111122223333:role/" + strings.Repeat("p", 512) + "/r", RoleARN{}, false},
		{"", RoleARN{}, false},
	}
	for _, tc := range tests {
		got, err := parseRoleARNParam("roleArn", tc.arn)
		if (err == nil) != tc.ok {
			t.Errorf("parseRoleARNParam(%q) error = %v, want ok=%v", tc.arn, err, tc.ok)
			continue
		}
		if err != nil && ErrorCode(err) != CodeInvalidParameter {
			t.Errorf("parseRoleARNParam(%q) code = %s", tc.arn, ErrorCode(err))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseRoleARNParam(%q) (-want +got):\n%s", tc.arn, diff)
		}
	}
}

func TestNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"demo": true, "a": true, "My_Cluster-1": true, strings.Repeat("a", 100): true,
		"": false, "-x": false, "_x": false, "a.b": false, strings.Repeat("a", 101): false, "a/b": false,
	} {
		if ValidClusterName(name) != ok {
			t.Errorf("ValidClusterName(%q) = %v", name, !ok)
		}
	}
	for ns, ok := range map[string]bool{"default": true, "a-b": true, "x": true, "A": false, "a_b": false, "-a": false, "a-": false, strings.Repeat("a", 64): false} {
		if (validateNamespace(ns) == nil) != ok {
			t.Errorf("validateNamespace(%q) ok = %v", ns, !ok)
		}
	}
	for sa, ok := range map[string]bool{"default": true, "a.b-c": true, "a..b": false, "A": false, strings.Repeat("a", 254): false} {
		if (validateServiceAccount(sa) == nil) != ok {
			t.Errorf("validateServiceAccount(%q) ok = %v", sa, !ok)
		}
	}
}

func TestAssociationIDs(t *testing.T) {
	form := regexp.MustCompile(`^a-[a-z0-9]{17}$`)
	seen := map[string]bool{}
	for range 2000 {
		id, err := newAssociationID(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !form.MatchString(id) || !ValidAssociationID(id) {
			t.Fatalf("id %q is not a- + 17 lowercase alphanumerics", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	// Bytes at or above the rejection limit are skipped, never folded in.
	id, err := newAssociationID(bytes.NewReader(append(bytes.Repeat([]byte{255}, 34), bytes.Repeat([]byte{0}, 34)...)))
	if err != nil || id != "a-"+strings.Repeat("a", 17) {
		t.Errorf("rejection sampling: id %q err %v", id, err)
	}
}

func TestCursors(t *testing.T) {
	k := AssociationKey{Namespace: "ns", ServiceAccount: "sa"}
	got, err := decodeAssociationCursor(encodeAssociationCursor(k))
	if err != nil || got != k {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"x", "!!!", encodeCursor(associationCursor{V: 2, NS: "a", SA: "b"}), encodeCursor(associationCursor{V: 1}), strings.Repeat("A", 3000)} {
		if _, err := decodeAssociationCursor(bad); ErrorCode(err) != CodeInvalidParameter {
			t.Errorf("decodeAssociationCursor(%.20q) = %v, want InvalidParameter", bad, err)
		}
	}
	if after, err := decodeClusterCursor(encodeClusterCursor("demo")); err != nil || after != "demo" {
		t.Errorf("cluster cursor round trip: %q %v", after, err)
	}
}

func TestPolicyRules(t *testing.T) {
	tests := []struct {
		policy  string
		disable bool
		ok      bool
	}{
		{"", false, true},
		{"{}", true, true},
		{"{}", false, false},
		{"[1]", true, false},
		{"not json", true, false},
		{`{"a":"` + strings.Repeat("x", 2040) + `"}`, true, true}, // exactly 2048
		{`{"a":"` + strings.Repeat("x", 2041) + `"}`, true, false},
	}
	for _, tc := range tests {
		err := validatePolicyUse(tc.policy, tc.disable)
		if (err == nil) != tc.ok {
			t.Errorf("validatePolicyUse(len %d, %v) = %v, want ok=%v", len(tc.policy), tc.disable, err, tc.ok)
		}
	}
}

func TestTagRules(t *testing.T) {
	tooMany := map[string]string{}
	for i := range 51 {
		tooMany[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		tags map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"a": ""}, true},
		{map[string]string{"": "v"}, false},
		{map[string]string{"AWS:x": "v"}, false},
		{map[string]string{strings.Repeat("k", 129): "v"}, false},
		{map[string]string{"k": strings.Repeat("v", 257)}, false},
		{tooMany, false},
	}
	for i, tc := range tests {
		if err := ValidateTags(tc.tags); (err == nil) != tc.ok {
			t.Errorf("case %d: ValidateTags = %v, want ok=%v", i, err, tc.ok)
		}
	}
}
