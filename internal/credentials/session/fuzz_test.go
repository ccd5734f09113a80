package session_test

import (
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/credentials/session"
)

// FuzzParseRoleARN checks that role ARNs that parse reassemble to exactly
// the input and give an assumed-role ARN that parses as an ARN too.
func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111122223333:role/MyRole",
		"arn:aws-us-gov:iam::111122223333:role/path/to/MyRole",
		"arn:aws-cn:iam::111122223333:role/service-role/a+=,.@-_",
		"arn:aws:sts::111122223333:assumed-role/MyRole/session",
		"arn:aws:iam::111122223333:role//x",
		"arn:::::",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := session.ParseRoleARN(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Fatalf("ParseRoleARN(%q).String() = %q", s, r.String())
		}
		if _, err := session.ParseARN(r.AssumedRole("eks-c-p-x")); err != nil {
			t.Fatalf("assumed-role ARN of %q does not parse: %v", s, err)
		}
		if acct, err := session.AccountOf(s); err != nil || acct != r.Account {
			t.Fatalf("AccountOf(%q) = %q, %v; ParseRoleARN says %q", s, acct, err, r.Account)
		}
	})
}

// FuzzName checks that any cluster and pod names give a session name STS
// accepts, ending in the random UUID.
func FuzzName(f *testing.F) {
	f.Add("prod", "web-0")
	f.Add(strings.Repeat("c", 100), strings.Repeat("p", 253))
	f.Add("ü/x y", "\x00\xff")
	f.Fuzz(func(t *testing.T, cluster, pod string) {
		name, err := session.Name(cluster, pod, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := session.ValidateName(name); err != nil {
			t.Fatalf("Name(%q, %q) = %q: %v", cluster, pod, name, err)
		}
		if !uuidRE.MatchString(name) || !strings.HasPrefix(name, "eks-") {
			t.Fatalf("Name(%q, %q) = %q: not eks-...-<uuid>", cluster, pod, name)
		}
	})
}
