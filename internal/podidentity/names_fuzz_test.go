package podidentity_test

import (
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
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
		r, err := pi.ParseRoleARN(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Fatalf("ParseRoleARN(%q).String() = %q", s, r.String())
		}
		if _, err := pi.ParseARN(r.AssumedRole("eks-c-p-x")); err != nil {
			t.Fatalf("assumed-role ARN of %q does not parse: %v", s, err)
		}
		if acct, err := pi.AccountOf(s); err != nil || acct != r.Account {
			t.Fatalf("AccountOf(%q) = %q, %v; ParseRoleARN says %q", s, acct, err, r.Account)
		}
	})
}
