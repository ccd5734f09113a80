package podidentity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// CreateAssociation validates in and stores a new association.
func (s *Service) CreateAssociation(ctx context.Context, in CreateAssociationInput) (*Association, error) {
	cluster, err := s.Cluster(in.ClusterName)
	if err != nil {
		return nil, err
	}
	if err := firstError(
		validateNames(in.Namespace, in.ServiceAccount, s.patterns),
		s.validateRoleARN(in.RoleARN),
		s.validateTargetRoleARN(in.TargetRoleARN),
		validatePolicyUse(in.Policy, in.DisableSessionTags != nil && *in.DisableSessionTags),
		ValidateTags(in.Tags),
		validateClientToken(in.ClientRequestToken),
	); err != nil {
		return nil, err
	}
	if _, err := s.sessionShapeOf(in.Tags, in.DisableSessionTags != nil && *in.DisableSessionTags); err != nil {
		return nil, err
	}
	id, err := newAssociationID(s.rand)
	if err != nil {
		return nil, Internal(err)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	a := &Association{
		ClusterName:        cluster.Name,
		AssociationID:      id,
		AssociationARN:     s.AssociationARN(cluster.Name, id),
		Namespace:          in.Namespace,
		ServiceAccount:     in.ServiceAccount,
		RoleARN:            in.RoleARN,
		TargetRoleARN:      in.TargetRoleARN,
		DisableSessionTags: in.DisableSessionTags != nil && *in.DisableSessionTags,
		Policy:             in.Policy,
		Tags:               maps.Clone(in.Tags),
		CreatedAt:          now,
		ModifiedAt:         now,
	}
	if a.Tags == nil {
		a.Tags = map[string]string{}
	}
	a.ExternalID = s.externalID(a)
	if in.CheckSessionShape != nil && firstReservedKey(a.Tags) != "" {
		if err := in.CheckSessionShape(a); err != nil {
			return nil, err
		}
	}
	idem := s.idempotency("create/"+cluster.Name, in.ClientRequestToken, in, now)
	defer s.lookups.invalidate()
	return s.withARN(s.store.CreateAssociation(ctx, a, s.limit, idem))
}

// withARN sets the ARN of an association the store returned.
func (s *Service) withARN(a *Association, err error) (*Association, error) {
	if err != nil {
		return nil, err
	}
	a.AssociationARN = s.AssociationARN(a.ClusterName, a.AssociationID)
	return a, nil
}

// DescribeAssociation returns one association.
func (s *Service) DescribeAssociation(ctx context.Context, cluster, id string) (*Association, error) {
	if err := s.checkAssociationRef(cluster, id); err != nil {
		return nil, err
	}
	return s.withARN(s.store.GetAssociation(ctx, cluster, id))
}

// FindAssociation returns the association that applies to a service
// account, with its tags: the exact one if there is one, else, with
// patterns on, the best-ranked pattern association matching it.
func (s *Service) FindAssociation(ctx context.Context, cluster string, key AssociationKey) (*Association, error) {
	c, err := s.Cluster(cluster)
	if err != nil {
		return nil, err
	}
	return s.find(ctx, c, key)
}

// find is FindAssociation in a resolved cluster: a copy of the cached
// association, which callers may change.
func (s *Service) find(ctx context.Context, c *Cluster, key AssociationKey) (*Association, error) {
	r, err := s.resolve(ctx, c, key)
	if err != nil {
		return nil, err
	}
	copied := *r.assoc
	copied.Tags = maps.Clone(r.assoc.Tags)
	return &copied, nil
}

// ListAssociations returns one page of a cluster's associations.
func (s *Service) ListAssociations(ctx context.Context, in ListAssociationsInput) (*ListAssociationsOutput, error) {
	if _, err := s.Cluster(in.ClusterName); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	q := AssociationQuery{Cluster: in.ClusterName, Namespace: in.Namespace, ServiceAccount: in.ServiceAccount, Limit: limit + 1}
	if in.NextToken != "" {
		after, err := decodeAssociationCursor(in.NextToken)
		if err != nil {
			return nil, err
		}
		q.After = &after
	}
	items, err := s.store.ListAssociations(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].AssociationARN = s.AssociationARN(items[i].ClusterName, items[i].AssociationID)
	}
	out := &ListAssociationsOutput{Associations: items}
	// One extra row tells whether another page exists without a count query.
	if len(items) > limit {
		out.Associations = items[:limit]
		out.NextToken = encodeAssociationCursor(items[limit-1].Key())
	}
	return out, nil
}

// UpdateAssociation changes the role, target role, session tag setting or
// policy of an association.
func (s *Service) UpdateAssociation(ctx context.Context, in UpdateAssociationInput) (*Association, error) {
	if err := s.checkAssociationRef(in.ClusterName, in.AssociationID); err != nil {
		return nil, err
	}
	if in.RoleARN != nil {
		if err := s.validateRoleARN(*in.RoleARN); err != nil {
			return nil, err
		}
	}
	if in.TargetRoleARN != nil {
		if err := s.validateTargetRoleARN(*in.TargetRoleARN); err != nil {
			return nil, err
		}
	}
	if err := validateClientToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	idem := s.idempotency("update/"+in.ClusterName+"/"+in.AssociationID, in.ClientRequestToken, in, now)
	defer s.lookups.invalidate()
	return s.withARN(s.store.UpdateAssociation(ctx, in.ClusterName, in.AssociationID, idem, in.checked(func(a *Association) error {
		if in.RoleARN != nil {
			a.RoleARN = *in.RoleARN
		}
		if in.TargetRoleARN != nil {
			a.TargetRoleARN = *in.TargetRoleARN
		}
		if in.DisableSessionTags != nil {
			a.DisableSessionTags = *in.DisableSessionTags
		}
		if in.Policy != nil {
			a.Policy = *in.Policy
		}
		// The rules bind the association as it will be, so that turning
		// session tags back on while a policy remains is refused too, and
		// turning them off while custom session tags remain.
		if err := validatePolicyUse(a.Policy, a.DisableSessionTags); err != nil {
			return err
		}
		// With session shaping off, reserved tags left from before are
		// refused where they would act (the credential path), not here:
		// an update adds none.
		if s.shaping {
			if _, err := parseSessionShape(a.Tags, a.DisableSessionTags); err != nil {
				return err
			}
		}
		a.ExternalID = s.externalID(a)
		a.ModifiedAt = now
		return nil
	})))
}

// checked runs in.Check after change, with the association as it was.
func (in UpdateAssociationInput) checked(change func(*Association) error) func(*Association) error {
	if in.Check == nil {
		return change
	}
	return func(a *Association) error {
		before := *a
		if err := change(a); err != nil {
			return err
		}
		return in.Check(&before, a)
	}
}

// DeleteAssociation removes an association and returns it as it was.
func (s *Service) DeleteAssociation(ctx context.Context, cluster, id string) (*Association, error) {
	if err := s.checkAssociationRef(cluster, id); err != nil {
		return nil, err
	}
	defer s.lookups.invalidate()
	return s.withARN(s.store.DeleteAssociation(ctx, cluster, id))
}

func (s *Service) checkAssociationRef(cluster, id string) error {
	if _, err := s.Cluster(cluster); err != nil {
		return err
	}
	if !ValidAssociationID(id) {
		return Errorf(CodeNotFound, "No association found for id: %s.", clip(id))
	}
	return nil
}

func (s *Service) validateRoleARN(arn string) error {
	if arn == "" {
		return Errorf(CodeInvalidParameter, "roleArn must not be empty")
	}
	r, err := parseRoleARNParam("roleArn", arn)
	if err != nil {
		return err
	}
	if r.Account != s.accountID {
		return Errorf(CodeInvalidParameter, "roleArn must be in the cluster's account %s; use targetRoleArn for a role in account %s", s.accountID, r.Account)
	}
	if r.Partition != s.partition {
		return Errorf(CodeInvalidParameter, "roleArn must be in partition %s", s.partition)
	}
	return nil
}

// validateTargetRoleARN allows any account (that is what a target role is
// for) but only this server's partition: no role can be assumed across
// partitions, and the grammar accepts partitions by their form, not a list.
func (s *Service) validateTargetRoleARN(arn string) error {
	if arn == "" {
		return nil
	}
	r, err := parseRoleARNParam("targetRoleArn", arn)
	if err != nil {
		return err
	}
	if r.Partition != s.partition {
		return Errorf(CodeInvalidParameter, "targetRoleArn must be in partition %s", s.partition)
	}
	return nil
}

func validatePolicyUse(policy string, disableSessionTags bool) error {
	if policy == "" {
		return nil
	}
	if !disableSessionTags {
		return Errorf(CodeInvalidParameter, "policy can only be set when disableSessionTags is true")
	}
	return validatePolicy(policy)
}

// externalID is the ExternalId EKS passes when it chains into the target
// role: region/account/cluster/namespace/serviceAccount.
func (s *Service) externalID(a *Association) string {
	if a.TargetRoleARN == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/%s/%s/%s", s.region, s.accountID, a.ClusterName, a.Namespace, a.ServiceAccount)
}

// idempotency fingerprints a request for its client token; nil when the
// client sent none.
func (s *Service) idempotency(scope, token string, request any, now time.Time) *Idempotency {
	if token == "" {
		return nil
	}
	b, err := json.Marshal(request)
	if err != nil {
		panic(fmt.Sprintf("podidentity: marshalling a request struct: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return &Idempotency{Scope: scope, Token: token, RequestHash: hex.EncodeToString(sum[:]), CreatedAt: now}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
