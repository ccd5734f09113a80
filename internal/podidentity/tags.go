package podidentity

import (
	"context"
	"maps"
	"regexp"
)

// Tagged resources are the configured clusters and the associations, named
// by ARN exactly as EKS names them.
var (
	clusterARNPattern     = regexp.MustCompile(`^arn:([a-z-]+):eks:([a-z0-9-]+):(\d{12}):cluster/([0-9A-Za-z][A-Za-z0-9\-_]*)$`)
	associationARNPattern = regexp.MustCompile(`^arn:([a-z-]+):eks:([a-z0-9-]+):(\d{12}):podidentityassociation/([0-9A-Za-z][A-Za-z0-9\-_]*)/(a-[a-z0-9]{17})$`)
)

// resolveTaggable checks that arn names an existing resource of this server
// and returns the key its tags are stored under, with the association when
// it names one.
func (s *Service) resolveTaggable(ctx context.Context, arn string) (string, *Association, error) {
	if m := clusterARNPattern.FindStringSubmatch(arn); m != nil {
		if m[1] != s.partition || m[2] != s.region || m[3] != s.accountID {
			return "", nil, s.foreignResource(arn)
		}
		if _, err := s.Cluster(m[4]); err != nil {
			return "", nil, err
		}
		return clusterTagKey(m[4]), nil, nil
	}
	if m := associationARNPattern.FindStringSubmatch(arn); m != nil {
		if m[1] != s.partition || m[2] != s.region || m[3] != s.accountID {
			return "", nil, s.foreignResource(arn)
		}
		a, err := s.DescribeAssociation(ctx, m[4], m[5])
		if err != nil {
			return "", nil, err
		}
		return m[5], a, nil
	}
	return "", nil, Errorf(CodeInvalidParameter, "%q is not the ARN of an EKS cluster or pod identity association", clip(arn))
}

// clusterTagKey is the store key of a cluster's tags.
func clusterTagKey(name string) string { return "cluster/" + name }

func (s *Service) foreignResource(arn string) error {
	return Errorf(CodeNotFound, "Resource %s does not belong to region %s and account %s.", clip(arn), s.region, s.accountID)
}

// ListTags returns the tags of a cluster or association.
func (s *Service) ListTags(ctx context.Context, arn string) (map[string]string, error) {
	key, _, err := s.resolveTaggable(ctx, arn)
	if err != nil {
		return nil, err
	}
	return s.store.Tags(ctx, key)
}

// TagResource adds or overwrites tags on a cluster or association. check
// authorizes setting reserved tags on an association (ShapeCheck).
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string, check ShapeCheck) error {
	if len(tags) == 0 {
		return Errorf(CodeInvalidParameter, "tags must contain at least one tag")
	}
	if err := ValidateTags(tags); err != nil {
		return err
	}
	key, a, err := s.resolveTaggable(ctx, arn)
	if err != nil {
		return err
	}
	if a != nil {
		if !s.shaping {
			// Only the tags being set: reserved tags stored before the
			// setting was turned off must not block other tags.
			if k := firstReservedKey(tags); k != "" {
				return errShapingOff(k)
			}
		}
		if err := checkShape(check, a, tags); err != nil {
			return err
		}
		if s.shaping {
			// The session tags must stay valid as the association's
			// tags will be. Another TagResource racing this one is not
			// seen; the credential path refuses what such a race could
			// leave behind.
			merged := make(map[string]string, len(a.Tags)+len(tags))
			maps.Copy(merged, a.Tags)
			maps.Copy(merged, tags)
			if _, err := parseSessionShape(merged, a.DisableSessionTags); err != nil {
				return err
			}
		}
		defer s.lookups.invalidate()
	}
	return s.store.TagResource(ctx, key, tags, MaxTagsPerResource)
}

// UntagResource removes tag keys from a cluster or association. check
// authorizes removing reserved tags from an association (ShapeCheck).
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string, check ShapeCheck) error {
	if len(keys) == 0 {
		return Errorf(CodeInvalidParameter, "tagKeys must contain at least one key")
	}
	if len(keys) > MaxTagsPerResource {
		return Errorf(CodeInvalidParameter, "at most %d tag keys can be removed at once", MaxTagsPerResource)
	}
	for _, k := range keys {
		if err := validateTagKey(k); err != nil {
			return err
		}
	}
	key, a, err := s.resolveTaggable(ctx, arn)
	if err != nil {
		return err
	}
	if a != nil {
		// Removing a session tag can widen a session as much as setting
		// one (the role's own tag of that key applies again), so it is
		// authorized alike, with session shaping on or off.
		removed := make(map[string]bool, len(keys))
		for _, k := range keys {
			removed[k] = true
		}
		if err := checkShape(check, a, removed); err != nil {
			return err
		}
		if s.shaping {
			remaining := maps.Clone(a.Tags)
			for _, k := range keys {
				delete(remaining, k)
			}
			if _, err := parseSessionShape(remaining, a.DisableSessionTags); err != nil {
				return err
			}
		}
		defer s.lookups.invalidate()
	}
	return s.store.UntagResource(ctx, key, keys)
}

// checkShape runs check when keys has a reserved key. The association is
// the one read before the write: an update racing this call that changes
// its role needed iam:PassRole on the new role itself.
func checkShape[V any](check ShapeCheck, a *Association, keys map[string]V) error {
	if check == nil || firstReservedKey(keys) == "" {
		return nil
	}
	return check(a)
}
