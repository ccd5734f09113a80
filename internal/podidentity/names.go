package podidentity

// The grammar of the AWS names this server reads: ARNs, IAM role ARNs,
// account ids and EKS cluster names. The API, the configuration and the
// credential backends all parse them here, so that a role ARN the API
// stores is one every later step can use.

import (
	"fmt"
	"strings"
)

// Limits IAM enforces: on a role ARN (nothing we parse is longer), on a
// role's path and on its name.
const (
	maxARNLen      = 2048
	maxRolePathLen = 512
	maxRoleNameLen = 64
)

// ARN is an Amazon Resource Name split into its fields:
// arn:Partition:Service:Region:Account:Resource.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string
}

// String reassembles the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// ParseARN splits s into its fields. It checks the shape shared by all ARNs
// (a partition such as aws, aws-cn or aws-us-gov, a service, an empty or
// 12-digit account, a non-empty resource) and nothing service-specific.
func ParseARN(s string) (ARN, error) {
	if len(s) > maxARNLen {
		return ARN{}, fmt.Errorf("ARN is %d characters long, more than %d", len(s), maxARNLen)
	}
	// Cut rather than SplitN: this runs on every credential issued and
	// opened, and SplitN allocates.
	var a ARN
	rest, ok := strings.CutPrefix(s, "arn:")
	for _, f := range []*string{&a.Partition, &a.Service, &a.Region, &a.Account} {
		if !ok {
			break
		}
		*f, rest, ok = strings.Cut(rest, ":")
	}
	if !ok {
		return ARN{}, fmt.Errorf("%q is not an ARN (arn:partition:service:region:account:resource)", s)
	}
	a.Resource = rest
	if !validPartition(a.Partition) {
		return ARN{}, fmt.Errorf("ARN %q: %q is not an AWS partition", s, a.Partition)
	}
	if !lowerAlnumDash(a.Service) {
		return ARN{}, fmt.Errorf("ARN %q: %q is not a service name", s, a.Service)
	}
	if a.Region != "" && !lowerAlnumDash(a.Region) {
		return ARN{}, fmt.Errorf("ARN %q: %q is not a region", s, a.Region)
	}
	if a.Account != "" && !ValidAccountID(a.Account) {
		return ARN{}, fmt.Errorf("ARN %q: account %q is not 12 digits", s, a.Account)
	}
	if a.Resource == "" {
		return ARN{}, fmt.Errorf("ARN %q: empty resource", s)
	}
	return a, nil
}

// validPartition accepts "aws" and "aws-" followed by lower-case words, so
// partitions AWS adds later (aws-iso-f, aws-eusc, ...) need no code change.
func validPartition(p string) bool {
	if p == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "aws-")
	return ok && rest != "" && lowerAlnumDash(rest) && !strings.HasSuffix(rest, "-")
}

func lowerAlnumDash(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidAccountID reports whether s is an AWS account id: exactly 12 digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RoleARN is a parsed IAM role ARN,
// arn:Partition:iam::Account:role{Path}{Name}.
type RoleARN struct {
	Partition string
	Account   string
	Path      string // "/" or "/a/b/"
	Name      string
}

// String reassembles the role ARN.
func (r RoleARN) String() string {
	return "arn:" + r.Partition + ":iam::" + r.Account + ":role" + r.Path + r.Name
}

// AssumedRole returns the ARN STS gives a session of the role:
// arn:Partition:sts::Account:assumed-role/Name/sessionName. The role's path
// is not part of it; STS leaves it out too.
func (r RoleARN) AssumedRole(sessionName string) string {
	return "arn:" + r.Partition + ":sts::" + r.Account + ":assumed-role/" + r.Name + "/" + sessionName
}

// ParseRoleARN parses an IAM role ARN, checking what IAM checks: the iam
// service with no region, a 12-digit account, a path of printable ASCII
// between slashes, and a role name of 1 to 64 characters from [\w+=,.@-].
func ParseRoleARN(s string) (RoleARN, error) {
	a, err := ParseARN(s)
	if err != nil {
		return RoleARN{}, err
	}
	if a.Service != "iam" || a.Region != "" || a.Account == "" {
		return RoleARN{}, fmt.Errorf("%q is not an IAM role ARN (arn:partition:iam::account:role/name)", s)
	}
	rest, ok := strings.CutPrefix(a.Resource, "role/")
	if !ok {
		return RoleARN{}, fmt.Errorf("%q is not an IAM role ARN (arn:partition:iam::account:role/name)", s)
	}
	i := strings.LastIndexByte(rest, '/')
	path, name := "/"+rest[:i+1], rest[i+1:]
	if len(path) > maxRolePathLen {
		return RoleARN{}, fmt.Errorf("role ARN %q: path is longer than %d characters", s, maxRolePathLen)
	}
	for j := 0; j < len(path); j++ {
		if path[j] < 0x21 || path[j] > 0x7e {
			return RoleARN{}, fmt.Errorf("role ARN %q: path has a character outside printable ASCII", s)
		}
	}
	if strings.Contains(path, "//") {
		return RoleARN{}, fmt.Errorf("role ARN %q: path has an empty segment", s)
	}
	if name == "" || len(name) > maxRoleNameLen {
		return RoleARN{}, fmt.Errorf("role ARN %q: role name must have 1 to %d characters", s, maxRoleNameLen)
	}
	for j := 0; j < len(name); j++ {
		if !SessionNameChar(name[j]) { // IAM allows role names what STS allows session names
			return RoleARN{}, fmt.Errorf("role ARN %q: role name has a character outside [A-Za-z0-9_+=,.@-]", s)
		}
	}
	return RoleARN{Partition: a.Partition, Account: a.Account, Path: path, Name: name}, nil
}

// RoleName returns the name of the role in an IAM role ARN, without its
// path: arn:aws:iam::111122223333:role/path/to/MyRole gives MyRole.
func RoleName(roleARN string) (string, error) {
	r, err := ParseRoleARN(roleARN)
	if err != nil {
		return "", err
	}
	return r.Name, nil
}

// AccountOf returns the account id in any ARN that has one (role,
// assumed-role, association ARNs, ...).
func AccountOf(arn string) (string, error) {
	a, err := ParseARN(arn)
	if err != nil {
		return "", err
	}
	if a.Account == "" {
		return "", fmt.Errorf("ARN %q has no account", arn)
	}
	return a.Account, nil
}

// PartitionOf returns the partition of any ARN: aws, aws-cn, aws-us-gov, ...
func PartitionOf(arn string) (string, error) {
	a, err := ParseARN(arn)
	if err != nil {
		return "", err
	}
	return a.Partition, nil
}

// MaxClusterNameLen is EKS's limit on a cluster name.
const MaxClusterNameLen = 100

// ValidClusterName reports whether name is a legal EKS cluster name: 1 to
// 100 letters, digits, '-' and '_', starting with a letter or digit.
func ValidClusterName(name string) bool {
	if name == "" || len(name) > MaxClusterNameLen || !alnum(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !alnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
