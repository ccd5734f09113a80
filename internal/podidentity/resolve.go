package podidentity

import (
	"context"
	"fmt"
	"time"
)

// resolved is an association as the credential path needs it: with its
// tags and its parsed session shape, cached together.
type resolved struct {
	assoc    *Association
	shape    *sessionShape
	shapeErr error // the tags ask for a session that cannot be issued
}

// resolve finds the association that applies to key in cluster c, which
// the caller has resolved, through the lookup cache. An exact (namespace,
// service account) association always ranks highest, so patterns are
// consulted only when there is none: pods of exactly associated service
// accounts never pay for patterns.
func (s *Service) resolve(ctx context.Context, c *Cluster, key AssociationKey) (*resolved, error) {
	cluster := c.Name
	now := s.now()
	ck := lookupKey{cluster: cluster, key: key}
	r, ok, gen := s.lookups.get(ck, now)
	if !ok {
		var (
			err     error
			expires time.Time
		)
		if r, expires, err = s.lookup(ctx, cluster, key, gen, now); err != nil {
			return nil, err
		}
		s.lookups.put(ck, r, gen, expires)
	}
	if r == nil {
		return nil, Errorf(CodeNotFound, "No pod identity association found for service account %s in namespace %s of cluster %s.",
			key.ServiceAccount, key.Namespace, cluster)
	}
	return r, nil
}

// lookup asks the store; nil means no association applies. The answer
// may be cached until expires: now plus the cache's ttl, or earlier when
// it came from a cached pattern list, which is no fresher than when it was
// loaded. Caching it for a full ttl from now would let a pattern
// association deleted through another replica keep issuing credentials
// for up to twice the documented bound.
func (s *Service) lookup(ctx context.Context, cluster string, key AssociationKey, gen uint64, now time.Time) (r *resolved, expires time.Time, err error) {
	expires = now.Add(s.lookups.ttl)
	a, err := s.withARN(s.store.FindAssociation(ctx, cluster, key))
	switch {
	case err == nil:
	case ErrorCode(err) != CodeNotFound:
		return nil, expires, err
	case !s.patterns:
		return nil, expires, nil
	default:
		patterns, listExpires, err := s.patternAssociations(ctx, cluster, gen, now)
		if err != nil {
			return nil, expires, err
		}
		if listExpires.Before(expires) {
			expires = listExpires
		}
		best := bestMatch(patterns, key)
		if best == nil {
			return nil, expires, nil
		}
		copied := *best
		a = &copied
		a.AssociationARN = s.AssociationARN(a.ClusterName, a.AssociationID)
	}
	// Tags only for the association found: they shape its sessions.
	if a.Tags, err = s.store.Tags(ctx, a.AssociationID); err != nil {
		return nil, expires, err
	}
	shape, err := s.sessionShapeOf(a.Tags, a.DisableSessionTags)
	if err != nil {
		// Refused when stored; only tags written around the rules (an
		// import, a race of two TagResource calls) or kept from before
		// session shaping was turned off get here. Issuing without the
		// tags the operator asked for could widen access, so credentials
		// are refused; which association applies is still an answer.
		return &resolved{assoc: a, shapeErr: err}, expires, nil
	}
	return &resolved{assoc: a, shape: shape}, expires, nil
}

// patternAssociations returns a cluster's pattern associations and when
// that list stops being fresh enough to answer from, cached like lookups:
// one store query per cluster per LookupCacheTTL at most, and only while
// some service account without an exact association asks.
func (s *Service) patternAssociations(ctx context.Context, cluster string, gen uint64, now time.Time) ([]Association, time.Time, error) {
	if list, expires, ok := s.lookups.getPatterns(cluster, gen, now); ok {
		return list, expires, nil
	}
	// A burst of pods after a write shares one reload: it reads the
	// cluster's rows, tens of milliseconds at 100,000 associations.
	ch := s.patternLoads.DoChan(fmt.Sprintf("%s/%d", cluster, gen), func() (any, error) {
		// Detached from the caller that happens to start the reload,
		// so that its cancellation (a client gone, its deadline) does
		// not fail every request waiting for the same list; bounded on
		// its own instead.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patternLoadTimeout)
		defer cancel()
		list, err := s.store.PatternAssociations(lctx, cluster)
		if err != nil {
			return nil, err
		}
		// From the loader's clock reading, taken before the read: every
		// waiter's answer is then no fresher than the list.
		expires := now.Add(s.lookups.ttl)
		s.lookups.putPatterns(cluster, list, gen, expires)
		return patternList{list, expires}, nil
	})
	select {
	case <-ctx.Done():
		// This caller stops waiting; the reload goes on for the others.
		return nil, time.Time{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, time.Time{}, res.Err
		}
		pl := res.Val.(patternList)
		return pl.list, pl.expires, nil
	}
}

// patternLoadTimeout bounds a shared reload of a cluster's pattern list,
// which no single caller's context does.
const patternLoadTimeout = 10 * time.Second

type patternList struct {
	list    []Association
	expires time.Time
}

// ResolveAssociation answers "which association applies to service account
// sa in namespace ns": what AssumeRoleForPodIdentity would use for a pod
// running as it. Unlike ListPodIdentityAssociations, whose filters match
// literally as on AWS, it goes through patterns. The webhook asks it.
func (s *Service) ResolveAssociation(ctx context.Context, cluster, ns, sa string) (*Association, error) {
	c, err := s.Cluster(cluster)
	if err != nil {
		return nil, err
	}
	// Real names only: a pattern is nobody's service account.
	if err := firstError(validateNamespace(ns), validateServiceAccount(sa)); err != nil {
		return nil, err
	}
	return s.find(ctx, c, AssociationKey{Namespace: ns, ServiceAccount: sa})
}
