// Package session builds and checks the parts of an AWS role session that
// EKS Pod Identity fills in on a pod's behalf: the role session name and the
// six EKS session tags. (Role ARNs have their grammar in the domain, podidentity.ParseRoleARN.)
//
// Both credential backends need them: the local backend to mint sessions
// that look like the ones STS would return, the sts backend to send STS
// requests it will not reject. Keeping the rules here makes the two agree,
// and lets the local backend refuse exactly what STS would refuse.
package session

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// STS limits on AssumeRole parameters (AWS STS API reference, AssumeRole).
const (
	MinNameLen        = 2    // RoleSessionName
	MaxNameLen        = 64   // RoleSessionName
	MaxTags           = 50   // Tags
	MaxTagKeyLen      = 128  // Tag.Key, in characters
	MaxTagValueLen    = 256  // Tag.Value, in characters
	MaxPolicyLen      = 2048 // Policy, in characters
	reservedTagPrefix = "aws:"
)

// The session tags EKS Pod Identity attaches unless an association disables
// them. Roles' trust and permission policies match on these exact keys.
const (
	// The EKS session tag keys, named once in the domain.
	TagClusterARN     = podidentity.TagClusterARN
	TagClusterName    = podidentity.TagClusterName
	TagNamespace      = podidentity.TagNamespace
	TagServiceAccount = podidentity.TagServiceAccount
	TagPodName        = podidentity.TagPodName
	TagPodUID         = podidentity.TagPodUID
)

// namePrefix and the UUID are the fixed parts of a session name; what is
// left of the 64 characters goes to the cluster and pod names.
const (
	namePrefix = "eks-"
	uuidLen    = 36
	nameBudget = MaxNameLen - len(namePrefix) - 2 - uuidLen // two '-' separators
)

// Name returns the role session name EKS uses for a pod's credentials,
// "eks-<cluster>-<pod>-<uuid>", with a random UUID read from rnd (nil:
// crypto/rand).
//
// STS allows 64 characters, and a cluster name alone may have 100, so the
// cluster and pod names are shortened, never the UUID: the UUID is what makes
// each session distinguishable in CloudTrail. The two names share what room
// is left; one that is shorter than its half gives the rest to the other.
// Characters STS does not accept in a session name become '-'.
func Name(cluster, podName string, rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	id, err := uuid.NewRandomFromReader(rnd)
	if err != nil {
		return "", fmt.Errorf("session name: reading randomness: %w", err)
	}
	c, p := sanitizeName(cluster), sanitizeName(podName)
	cb, pb := nameBudget/2, nameBudget-nameBudget/2
	switch {
	case len(c) < cb:
		pb += cb - len(c)
		cb = len(c)
	case len(p) < pb:
		cb += pb - len(p)
		pb = len(p)
	}
	c, p = c[:min(len(c), cb)], p[:min(len(p), pb)]

	var b strings.Builder
	b.Grow(MaxNameLen)
	b.WriteString(namePrefix)
	b.WriteString(c)
	b.WriteByte('-')
	b.WriteString(p)
	b.WriteByte('-')
	b.WriteString(id.String())
	return b.String(), nil
}

// DefaultName is the session name of a pod whose association asks for no
// name of its own: Name with crypto/rand. Only a failing random source
// makes Name fail; the name then leaves out the pod and the UUID, and
// still says which cluster the session is for.
func DefaultName(cluster, podName string) string {
	name, err := Name(cluster, podName, nil)
	if err != nil {
		return namePrefix + cluster
	}
	return name
}

// sanitizeName maps every character STS rejects in a session name to '-'.
// A multi-byte character becomes one '-', so the result is ASCII and its
// length is its character count.
func sanitizeName(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !podidentity.SessionNameChar(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && podidentity.SessionNameChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ValidateName returns an error unless STS would accept name as a
// RoleSessionName.
func ValidateName(name string) error {
	if len(name) < MinNameLen || len(name) > MaxNameLen {
		return fmt.Errorf("session name %q: length %d is not between %d and %d", name, len(name), MinNameLen, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !podidentity.SessionNameChar(name[i]) {
			return fmt.Errorf("session name %q: character %q at %d is not one of [A-Za-z0-9_+=,.@-]", name, name[i], i)
		}
	}
	return nil
}

// ValidateTags returns every reason STS would reject tags as session tags:
// too many, keys or values too long or with characters outside STS's set,
// reserved "aws:" keys, and keys that differ only in case (STS compares tag
// keys case-insensitively).
func ValidateTags(tags map[string]string) error {
	var errs []error
	if len(tags) > MaxTags {
		errs = append(errs, fmt.Errorf("session tags: %d tags, at most %d are allowed", len(tags), MaxTags))
	}
	keys := sortedKeys(tags)
	for _, k := range keys {
		v := tags[k]
		if n := utf8.RuneCountInString(k); n < 1 || n > MaxTagKeyLen {
			errs = append(errs, fmt.Errorf("session tag %q: key length %d is not between 1 and %d", k, n, MaxTagKeyLen))
		}
		if !podidentity.STSTagText(k) {
			errs = append(errs, fmt.Errorf("session tag %q: key has characters outside letters, digits, spaces and _.:/=+-@", k))
		}
		if len(k) >= len(reservedTagPrefix) && strings.EqualFold(k[:len(reservedTagPrefix)], reservedTagPrefix) {
			errs = append(errs, fmt.Errorf("session tag %q: keys starting with %q are reserved", k, reservedTagPrefix))
		}
		if n := utf8.RuneCountInString(v); n > MaxTagValueLen {
			errs = append(errs, fmt.Errorf("session tag %q: value length %d exceeds %d", k, n, MaxTagValueLen))
		}
		if !podidentity.STSTagText(v) {
			errs = append(errs, fmt.Errorf("session tag %q: value has characters outside letters, digits, spaces and _.:/=+-@", k))
		}
	}
	// Quadratic, but over at most a few dozen keys, and free of the
	// allocations a map of lower-cased keys would cost on every issue.
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if strings.EqualFold(a, b) {
				errs = append(errs, fmt.Errorf("session tags %q and %q: keys differ only in case", a, b))
			}
		}
	}
	return errors.Join(errs...)
}

// ValidatePolicy returns an error unless policy fits STS's limit on an
// inline session policy. Whether it is a well-formed policy document is
// left to whoever accepted it.
func ValidatePolicy(policy string) error {
	if n := utf8.RuneCountInString(policy); n > MaxPolicyLen {
		return fmt.Errorf("session policy: length %d exceeds %d characters", n, MaxPolicyLen)
	}
	return nil
}

// sortedKeys returns the keys of tags in order, so that errors come out in
// the same order every time.
func sortedKeys(tags map[string]string) []string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
