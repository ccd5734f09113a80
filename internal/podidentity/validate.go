package podidentity

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Limits that EKS enforces on association and tag parameters.
const (
	MaxPolicyLength     = 2048
	MaxTagsPerResource  = 50
	MaxTagKeyLength     = 128
	MaxTagValueLength   = 256
	maxClientToken      = 128
	maxNamespaceLength  = 63  // a DNS-1123 label
	maxServiceAcctLen   = 253 // a DNS-1123 subdomain
	defaultListPageSize = 100
	maxListPageSize     = 100
)

var (
	// Kubernetes names: namespaces are DNS-1123 labels, service accounts
	// DNS-1123 subdomains.
	dns1123Label         = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	associationIDPattern = regexp.MustCompile(`^a-[a-z0-9]{17}$`)
)

// ValidAssociationID reports whether id has the form a- + 17 lowercase
// alphanumerics.
func ValidAssociationID(id string) bool { return associationIDPattern.MatchString(id) }

// parseRoleARNParam parses a role ARN parameter with the grammar the
// credential backends use too (ParseRoleARN), so that the API stores no
// role they would refuse; field names the parameter for the error message.
func parseRoleARNParam(field, arn string) (RoleARN, error) {
	r, err := ParseRoleARN(arn)
	if err != nil {
		return RoleARN{}, Errorf(CodeInvalidParameter, "%s %q is not a valid IAM role ARN (expected arn:aws:iam::123456789012:role/NAME)", field, clip(arn))
	}
	return r, nil
}

// validateNames checks an association's namespace and service account;
// with patterns on, either may be a pattern instead of a name.
func validateNames(ns, sa string, patterns bool) error {
	if ns != "" && patterns && IsPattern(ns) {
		if err := validateNamePattern("namespace", ns, maxNamespaceLength, "-"); err != nil {
			return err
		}
	} else if err := validateNamespace(ns); err != nil {
		return err
	}
	if sa != "" && patterns && IsPattern(sa) {
		return validateNamePattern("serviceAccount", sa, maxServiceAcctLen, "-.")
	}
	return validateServiceAccount(sa)
}

func validateNamespace(ns string) error {
	if ns == "" {
		return Errorf(CodeInvalidParameter, "namespace must not be empty")
	}
	if len(ns) > maxNamespaceLength || !dns1123Label.MatchString(ns) {
		return Errorf(CodeInvalidParameter, "namespace %q is not a valid Kubernetes namespace name (a DNS-1123 label of at most 63 lowercase alphanumerics or '-')", clip(ns))
	}
	return nil
}

func validateServiceAccount(sa string) error {
	if sa == "" {
		return Errorf(CodeInvalidParameter, "serviceAccount must not be empty")
	}
	if len(sa) > maxServiceAcctLen || !dns1123Subdomain.MatchString(sa) {
		return Errorf(CodeInvalidParameter, "serviceAccount %q is not a valid Kubernetes service account name (a DNS-1123 subdomain of at most 253 characters)", clip(sa))
	}
	return nil
}

func validatePolicy(policy string) error {
	if len(policy) > MaxPolicyLength {
		return Errorf(CodeInvalidParameter, "policy is %d characters long; the maximum is %d", len(policy), MaxPolicyLength)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return Errorf(CodeInvalidParameter, "policy is not a valid JSON policy document")
	}
	return nil
}

func validateClientToken(token string) error {
	if len(token) > maxClientToken {
		return Errorf(CodeInvalidParameter, "clientRequestToken is longer than %d characters", maxClientToken)
	}
	return nil
}

// ValidateTags checks a tag map against EKS's limits.
func ValidateTags(tags map[string]string) error {
	if len(tags) > MaxTagsPerResource {
		return Errorf(CodeInvalidParameter, "a resource can have at most %d tags; %d were given", MaxTagsPerResource, len(tags))
	}
	for k, v := range tags {
		if err := validateTagKey(k); err != nil {
			return err
		}
		if len(v) > MaxTagValueLength {
			return Errorf(CodeInvalidParameter, "the value of tag %q is longer than %d characters", clip(k), MaxTagValueLength)
		}
	}
	return nil
}

func validateTagKey(k string) error {
	if k == "" || len(k) > MaxTagKeyLength {
		return Errorf(CodeInvalidParameter, "tag keys must be 1 to %d characters long", MaxTagKeyLength)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return Errorf(CodeInvalidParameter, "tag key %q uses the reserved prefix aws:", clip(k))
	}
	return nil
}

// clip shortens user input quoted back in error messages.
func clip(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...", s[:max])
}
