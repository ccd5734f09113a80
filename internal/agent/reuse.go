package agent

import (
	"context"
	"errors"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// TokenVerifier checks a service-account token's signature against the
// cluster's keys and its claims as EKS Auth would (audience, validity,
// bound to a pod), all but the issuer, which it returns. satoken.Keys is
// one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*podidentity.PodIdentity, string, error)
}

// verifyWithin bounds a verification on a pod's request, key fetch
// included, so that a pod whose token cannot be verified in time still
// has most of its wait left for EKS Auth.
const verifyWithin = 500 * time.Millisecond

// reuse answers a rotated token from its pod's cached credentials. The
// kubelet rewrites a pod's projected token every so often; the AWS agent
// 0.1 keys its cache by the token and so asks EKS Auth again for every
// rotation of every pod. Here the new token is recognised as the same
// pod's (same issuer, namespace, service account and pod UID as the token
// EKS Auth accepted) and served the pod's credentials.
//
// The claims that say so are the caller's until proven: a pod could
// present a token it made up with a neighbour's pod UID. So the token's
// signature is verified against the cluster's own keys first, and its
// verified claims, not the parsed ones, must name the pod. Without a key
// source, or when the keys cannot be had or the token does not verify,
// reuse declines and EKS Auth is asked, as the AWS agent does.
func (c *cache) reuse(ctx context.Context, tok podToken) (Credentials, bool) {
	if c.cfg.verifier == nil || !c.caching() || !tok.pod.ok() {
		return Credentials{}, false
	}
	c.mu.Lock()
	e := c.pods[tok.pod]
	candidate := e != nil && c.entries[tok.key] == nil && c.reusableLocked(e, tok, c.cfg.now())
	c.mu.Unlock()
	if !candidate {
		return Credentials{}, false
	}

	vctx, cancel := context.WithTimeout(ctx, verifyWithin)
	id, issuer, err := c.cfg.verifier.Verify(vctx, tok.raw)
	cancel()
	attrs := []any{"token", tok.key.String(), "namespace", tok.namespace, "service_account", tok.serviceAccount, "pod", tok.podName}
	if err != nil {
		if unavailable(err) {
			c.log.Warn("cannot verify a rotated token (the cluster's keys cannot be had); asking EKS Auth", append(attrs, "err", err)...)
		} else {
			c.log.Warn("a token naming a pod with cached credentials does not verify; asking EKS Auth", append(attrs, "err", err)...)
		}
		return Credentials{}, false
	}
	if verifiedPod(id, issuer) != tok.pod {
		c.log.Warn("a verified token does not name the pod its claims were read as; asking EKS Auth", attrs...)
		return Credentials{}, false
	}
	tok.expires = id.TokenExpiry

	now := c.cfg.now()
	c.mu.Lock()
	e = c.pods[tok.pod] // the entry may have gone, or been replaced, meanwhile
	if e == nil || !c.reusableLocked(e, tok, now) {
		c.mu.Unlock()
		return Credentials{}, false
	}
	if !lifetimeWithin(tok, e.tok) {
		c.mu.Unlock()
		c.log.Warn("a verified token of a pod with cached credentials lives longer than the token EKS Auth accepted; asking EKS Auth",
			append(attrs, "issued", tok.issued, "expires", tok.expires)...)
		return Credentials{}, false
	}
	c.addTokenLocked(e, tok, false)
	c.lru.Get(e) // most recently used
	e.markServed(e.creds.Expiration)
	creds := e.creds
	c.mu.Unlock()
	c.metrics.cache(stateReused)
	c.log.Debug("rotated token verified; reusing its pod's credentials", append(attrs, "access_key_id", creds.AccessKeyID)...)
	return creds, true
}

// lifetimeSkew is how much longer than the accepted token a reused one may
// live. The kubelet asks for the same lifetime at every rotation, and the
// API server stamps iat and exp from one clock, so real rotations differ
// by nothing; the minute only absorbs rounding.
const lifetimeSkew = time.Minute

// lifetimeWithin: tok, a verified token, lives (exp - iat) no longer than
// accepted, the token EKS Auth accepted, give or take lifetimeSkew. Anyone
// allowed to create tokens for the pod's service account can mint one
// bound to the pod for as long as the API server allows; the podidentity
// server would refuse it (its maxTokenLifetime), and reuse, which skips
// the server, must not serve it either. A token without iat or exp cannot
// be compared and goes to EKS Auth. tok's iat is read from the bytes whose
// signature just verified, so the API server set it.
func lifetimeWithin(tok, accepted podToken) bool {
	if tok.issued.IsZero() || tok.expires.IsZero() || accepted.issued.IsZero() || accepted.expires.IsZero() {
		return false
	}
	return tok.expires.Sub(tok.issued) <= accepted.expires.Sub(accepted.issued)+lifetimeSkew
}

// reusableLocked: e's credentials may be handed to tok, a token of e's
// pod that e does not hold: they are servable and EKS Auth has not
// refused tok.
func (c *cache) reusableLocked(e *entry, tok podToken, now time.Time) bool {
	_, refused := e.refused[tok.key]
	return !refused && c.servableLocked(e, now)
}

// identityRefused: EKS Auth's verdict is on the pod's identity (its
// association is gone, or it may no longer assume the role), not on one
// token, so every token of the pod's, the one refreshes use included, is
// now in doubt.
func identityRefused(ue *UpstreamError) bool {
	return ue != nil && (ue.Code == "ResourceNotFoundException" || ue.Code == "AccessDeniedException")
}

// refuseAliasLocked: EKS Auth refused for good tok, one of e's verified
// rotated tokens. tok is forgotten and never reused again; when the
// refusal is about the pod's identity, e is made due so that the token
// EKS Auth accepted is put to it at once, and e goes if it is refused too.
func (c *cache) refuseAliasLocked(e *entry, tok podToken, ue *UpstreamError, now time.Time) {
	delete(e.aliases, tok.key)
	delete(c.entries, tok.key)
	e.refuseLocked(tok, now)
	if identityRefused(ue) {
		e.refreshAt = now
	}
}

// refuseRotated: EKS Auth refused for good tok, a token the cache does not
// hold, typically a rotated token whose verification did not finish in
// time on the pod's request. Its claims may name a pod with cached
// credentials, but they are unverified: a made-up token can name any pod.
// So the token is verified now, and only if it is the pod's own is a
// refusal of the pod's identity allowed to make the pod's entry due. The
// token itself is remembered as refused unless it positively fails
// verification, in which case reuse would decline it anyway.
func (c *cache) refuseRotated(tok podToken, ue *UpstreamError) {
	if c.cfg.verifier == nil || !c.caching() || !tok.pod.ok() {
		return
	}
	c.mu.Lock()
	e := c.pods[tok.pod]
	c.mu.Unlock()
	if e == nil {
		return
	}
	vctx, cancel := context.WithTimeout(c.life, verifyWithin)
	id, issuer, err := c.cfg.verifier.Verify(vctx, tok.raw)
	cancel()
	verified := err == nil && verifiedPod(id, issuer) == tok.pod
	if !verified && !unavailable(err) {
		return
	}
	now := c.cfg.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pods[tok.pod] != e {
		return // dropped or replaced meanwhile
	}
	e.refuseLocked(tok, now)
	if verified && identityRefused(ue) {
		e.refreshAt = now
		c.log.Info("EKS Auth refused a pod's rotated token; checking the pod's cached credentials again",
			"token", tok.key.String(), "namespace", tok.namespace, "service_account", tok.serviceAccount,
			"pod", tok.podName, "code", ue.Code)
	}
}

// refuseLocked remembers tok as refused, forgetting expired tokens and,
// beyond maxRefused, the one that expires first.
func (e *entry) refuseLocked(tok podToken, now time.Time) {
	if e.refused == nil {
		e.refused = map[tokenKey]time.Time{}
	}
	for k, exp := range e.refused {
		if !exp.IsZero() && !now.Before(exp) {
			delete(e.refused, k)
		}
	}
	e.refused[tok.key] = tok.expires
	for len(e.refused) > maxRefused {
		delete(e.refused, earliest(e.refused))
	}
}

func verifiedPod(id *podidentity.PodIdentity, issuer string) podKey {
	return podKey{issuer: issuer, namespace: id.Namespace, serviceAccount: id.ServiceAccount,
		serviceAccountUID: id.ServiceAccountUID, podUID: id.PodUID}
}

// unavailable: the verifier could not get the cluster's keys; the token
// may or may not be good.
func unavailable(err error) bool {
	pe := (*podidentity.Error)(nil)
	return errors.As(err, &pe) && pe.Code == podidentity.CodeUnavailable
}
