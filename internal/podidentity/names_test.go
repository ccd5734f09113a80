package podidentity_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func TestParseRoleARN(t *testing.T) {
	tests := []struct {
		in      string
		want    pi.RoleARN
		wantErr bool
	}{
		{in: "arn:aws:iam::111122223333:role/MyRole", want: pi.RoleARN{Partition: "aws", Account: "111122223333", Path: "/", Name: "MyRole"}},
		{in: "arn:aws:iam::111122223333:role/path/to/MyRole", want: pi.RoleARN{Partition: "aws", Account: "111122223333", Path: "/path/to/", Name: "MyRole"}},
		{in: "arn:aws-cn:iam::111122223333:role/service-role/R+=,.@-_", want: pi.RoleARN{Partition: "aws-cn", Account: "111122223333", Path: "/service-role/", Name: "R+=,.@-_"}},
		{in: "arn:aws-us-gov:iam::444455556666:role/Gov", want: pi.RoleARN{Partition: "aws-us-gov", Account: "444455556666", Path: "/", Name: "Gov"}},
		{in: "arn:aws-iso-b:iam::444455556666:role/Iso", want: pi.RoleARN{Partition: "aws-iso-b", Account: "444455556666", Path: "/", Name: "Iso"}},
		{in: "arn:aws:iam::111122223333:role/" + strings.Repeat("n", 64), want: pi.RoleARN{Partition: "aws", Account: "111122223333", Path: "/", Name: strings.Repeat("n", 64)}},
		{in: "", wantErr: true},
		{in: "MyRole", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/path/", wantErr: true},
		{in: "arn:aws:iam::111122223333:role//x", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/" + strings.Repeat("n", 65), wantErr: true},
		{in: "arn:aws:iam::111122223333:role/bad name", wantErr: true},
		{in: "arn:aws:iam::111122223333:user/MyUser", wantErr: true},
		{in: "arn:aws:iam::11112222333:role/MyRole", wantErr: true},
		{in: "arn:aws:iam::1111222233334:role/MyRole", wantErr: true},
		{in: "arn:aws:iam::abcdefghijkl:role/MyRole", wantErr: true},
		{in: "arn:aws:iam:us-east-1:111122223333:role/MyRole", wantErr: true},
		{in: "arn:aws:sts::111122223333:role/MyRole", wantErr: true},
		{in: "arn:gcp:iam::111122223333:role/MyRole", wantErr: true},
		{in: "arn:aws-:iam::111122223333:role/MyRole", wantErr: true},
		{in: "arn:AWS:iam::111122223333:role/MyRole", wantErr: true},
		{in: "arn:aws:iam::111122223333", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/p\x00/MyRole", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/" + strings.Repeat("p/", 300) + "R", wantErr: true},
		{in: "arn:aws:iam::111122223333:role/" + strings.Repeat("x", 3000), wantErr: true},
	}
	for _, tt := range tests {
		got, err := pi.ParseRoleARN(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRoleARN(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRoleARN(%q) (-want +got):\n%s", tt.in, diff)
		}
		if got.String() != tt.in {
			t.Errorf("ParseRoleARN(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestARNHelpers(t *testing.T) {
	tests := []struct {
		arn                          string
		roleName, account, partition string // "" with wantErr set: an error
		roleErr, accountErr, pErr    bool
	}{
		{arn: "arn:aws:iam::111122223333:role/path/to/MyRole", roleName: "MyRole", account: "111122223333", partition: "aws"},
		{arn: "arn:aws-cn:iam::111122223333:role/CnRole", roleName: "CnRole", account: "111122223333", partition: "aws-cn"},
		{arn: "arn:aws-us-gov:iam::444455556666:role/a/GovRole", roleName: "GovRole", account: "444455556666", partition: "aws-us-gov"},
		// The agent takes AccountId from an assumed-role ARN.
		{arn: "arn:aws:sts::111122223333:assumed-role/MyRole/eks-c-p-uuid", roleErr: true, account: "111122223333", partition: "aws"},
		{arn: "arn:aws:eks:us-west-2:111122223333:podidentityassociation/c/a-0123456789abcdefg", roleErr: true, account: "111122223333", partition: "aws"},
		{arn: "arn:aws:s3:::bucket", roleErr: true, accountErr: true, partition: "aws"},
		{arn: "not an arn", roleErr: true, accountErr: true, pErr: true},
		{arn: "arn:aws:iam::1234:role/x", roleErr: true, accountErr: true, pErr: true},
	}
	for _, tt := range tests {
		name, err := pi.RoleName(tt.arn)
		if (err != nil) != tt.roleErr || name != tt.roleName {
			t.Errorf("RoleName(%q) = %q, %v; want %q, error %v", tt.arn, name, err, tt.roleName, tt.roleErr)
		}
		acct, err := pi.AccountOf(tt.arn)
		if (err != nil) != tt.accountErr || acct != tt.account && !tt.accountErr {
			t.Errorf("AccountOf(%q) = %q, %v; want %q, error %v", tt.arn, acct, err, tt.account, tt.accountErr)
		}
		part, err := pi.PartitionOf(tt.arn)
		if (err != nil) != tt.pErr || part != tt.partition && !tt.pErr {
			t.Errorf("PartitionOf(%q) = %q, %v; want %q, error %v", tt.arn, part, err, tt.partition, tt.pErr)
		}
	}
}

func TestAssumedRole(t *testing.T) {
	r, err := pi.ParseRoleARN("arn:aws-us-gov:iam::444455556666:role/team/app/Worker")
	if err != nil {
		t.Fatal(err)
	}
	got := r.AssumedRole("eks-c-p-x")
	if want := "arn:aws-us-gov:sts::444455556666:assumed-role/Worker/eks-c-p-x"; got != want {
		t.Errorf("AssumedRole = %q, want %q", got, want)
	}
}

func TestValidClusterName(t *testing.T) {
	for name, ok := range map[string]bool{
		"demo": true, "a": true, "0x": true, "My_Cluster-1": true, strings.Repeat("a", 100): true,
		"": false, "-x": false, "_x": false, "a.b": false, "a b": false, strings.Repeat("a", 101): false, "a/b": false, "é": false,
	} {
		if pi.ValidClusterName(name) != ok {
			t.Errorf("ValidClusterName(%q) = %v", name, !ok)
		}
	}
}

func TestValidAccountID(t *testing.T) {
	for id, ok := range map[string]bool{
		"111122223333": true, "000000000000": true,
		"": false, "11112222333": false, "1111222233334": false, "11112222333a": false, " 11122223333": false,
	} {
		if pi.ValidAccountID(id) != ok {
			t.Errorf("ValidAccountID(%q) = %v", id, !ok)
		}
	}
}
