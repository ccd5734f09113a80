package session_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/credentials/session"
	"github.com/podidentity/podidentity/internal/podidentity"
)

var (
	stsNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	uuidRE    = regexp.MustCompile(`-([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`)
)

func TestName(t *testing.T) {
	long100 := strings.Repeat("c", 99) + "Z" // EKS allows 100-character cluster names
	long253 := strings.Repeat("p", 252) + "Q"
	tests := []struct {
		name, cluster, pod string
		wantPrefix         string // everything before the UUID
	}{
		{"short", "prod", "web-0", "eks-prod-web-0-"},
		{"exactly fits", strings.Repeat("c", 11), strings.Repeat("p", 11), "eks-ccccccccccc-ppppppppppp-"},
		{"long cluster, short pod", long100, "web-0", "eks-" + strings.Repeat("c", 17) + "-web-0-"},
		{"short cluster, long pod", "prod", long253, "eks-prod-" + strings.Repeat("p", 18) + "-"},
		{"both long", long100, long253, "eks-" + strings.Repeat("c", 11) + "-" + strings.Repeat("p", 11) + "-"},
		{"empty pod", "prod", "", "eks-prod--"},
		{"empty both", "", "", "eks---"},
		{"charset", "my cluster/ü", "a:b*c", "eks-my-cluster---a-b-c-"},
		{"allowed punctuation kept", "a_b+c=d,e.f@g", "x.y", "eks-a_b+c=d,e.f@g-x.y-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := session.Name(tt.cluster, tt.pod, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !stsNameRE.MatchString(got) {
				t.Errorf("Name = %q (%d chars), not a valid STS RoleSessionName", got, len(got))
			}
			if err := session.ValidateName(got); err != nil {
				t.Errorf("ValidateName(Name(...)): %v", err)
			}
			m := uuidRE.FindStringSubmatchIndex(got)
			if m == nil {
				t.Fatalf("Name = %q does not end in an intact random UUID", got)
			}
			if diff := cmp.Diff(tt.wantPrefix, got[:m[0]+1]); diff != "" {
				t.Errorf("Name = %q, prefix (-want +got):\n%s", got, diff)
			}
		})
	}
}

func TestNameUnique(t *testing.T) {
	long := strings.Repeat("x", 100)
	seen := make(map[string]bool)
	for range 2000 {
		n, err := session.Name(long, long, nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[n] {
			t.Fatalf("duplicate session name %q", n)
		}
		seen[n] = true
	}
}

func TestNameDeterministicRand(t *testing.T) {
	rnd := bytes.NewReader(bytes.Repeat([]byte{0xab}, 16))
	got, err := session.Name("c", "p", rnd)
	if err != nil {
		t.Fatal(err)
	}
	if want := "eks-c-p-abababab-abab-4bab-abab-abababababab"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if _, err := session.Name("c", "p", bytes.NewReader(nil)); err == nil {
		t.Error("Name with an empty random source: no error")
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ab", true},
		{"a", false},
		{"", false},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"eks-c-p_+=,.@-", true},
		{"has space", false},
		{"slash/no", false},
		{"ünicode", false},
	}
	for _, tt := range tests {
		if err := session.ValidateName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestTags(t *testing.T) {
	cluster := podidentity.Cluster{Name: "prod", ARN: "arn:aws:eks:us-east-1:111122223333:cluster/prod"}
	pod := podidentity.PodIdentity{
		Cluster: "prod", Namespace: "shop", ServiceAccount: "cart",
		PodName: "cart-7d9f-abcde", PodUID: "0f5a8c1e-1111-2222-3333-444455556666",
	}
	got := podidentity.SessionTags(&cluster, &pod)
	want := map[string]string{
		"eks-cluster-arn":            "arn:aws:eks:us-east-1:111122223333:cluster/prod",
		"eks-cluster-name":           "prod",
		"kubernetes-namespace":       "shop",
		"kubernetes-service-account": "cart",
		"kubernetes-pod-name":        "cart-7d9f-abcde",
		"kubernetes-pod-uid":         "0f5a8c1e-1111-2222-3333-444455556666",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if err := session.ValidateTags(got); err != nil {
		t.Errorf("ValidateTags(Tags(...)): %v", err)
	}
}

func TestValidateTags(t *testing.T) {
	many := make(map[string]string)
	for i := range 51 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		name    string
		tags    map[string]string
		wantErr []string // substrings, one per expected problem
	}{
		{"nil", nil, nil},
		{"unicode letters and spaces", map[string]string{"Ünïcode key": "välue with space 123 _.:/=+-@"}, nil},
		{"empty value", map[string]string{"k": ""}, nil},
		{"max lengths", map[string]string{strings.Repeat("k", 128): strings.Repeat("v", 256)}, nil},
		{"too many", many, []string{"51 tags"}},
		{"empty key", map[string]string{"": "v"}, []string{"key length 0"}},
		{"long key", map[string]string{strings.Repeat("k", 129): "v"}, []string{"key length 129"}},
		{"long value", map[string]string{"k": strings.Repeat("é", 257)}, []string{"value length 257"}},
		{"bad key char", map[string]string{"a*b": "v"}, []string{"key has characters"}},
		{"bad value char", map[string]string{"k": "a\nb"}, []string{"value has characters"}},
		{"invalid utf8", map[string]string{"k": "\xff"}, []string{"value has characters"}},
		{"reserved", map[string]string{"AWS:foo": "v"}, []string{"reserved"}},
		{"case duplicates", map[string]string{"Team": "a", "team": "b"}, []string{"differ only in case"}},
		{"several", map[string]string{"aws:x": "\x00", "y*": "v"}, []string{"reserved", "value has characters", "key has characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := session.ValidateTags(tt.tags)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ValidateTags: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateTags: nil, want errors mentioning %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateTags = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestValidatePolicy(t *testing.T) {
	if err := session.ValidatePolicy(strings.Repeat("é", 2048)); err != nil {
		t.Errorf("2048 characters: %v", err)
	}
	if err := session.ValidatePolicy(strings.Repeat("a", 2049)); err == nil {
		t.Error("2049 characters: no error")
	}
}

func TestDefaultName(t *testing.T) {
	a, b := session.DefaultName("prod", "web-0"), session.DefaultName("prod", "web-0")
	if a == b {
		t.Errorf("DefaultName gave %q twice: the UUID must make each session distinct", a)
	}
	for _, name := range []string{a, b} {
		if !strings.HasPrefix(name, "eks-prod-web-0-") || !uuidRE.MatchString(name) || session.ValidateName(name) != nil {
			t.Errorf("DefaultName = %q, want eks-prod-web-0-<uuid>", name)
		}
	}
}
