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
	el := c.pods[tok.pod]
	candidate := el != nil && c.entries[tok.key] == nil && c.servableLocked(el.Value.(*entry), c.cfg.now())
	c.mu.Unlock()
	if !candidate {
		return Credentials{}, false
	}

	vctx, cancel := context.WithTimeout(ctx, verifyWithin)
	id, issuer, err := c.cfg.verifier.Verify(vctx, tok.raw)
	cancel()
	attrs := []any{"token", tok.key.String(), "namespace", tok.namespace, "service_account", tok.serviceAccount, "pod", tok.podName}
	if err != nil {
		if pe := (*podidentity.Error)(nil); errors.As(err, &pe) && pe.Code == podidentity.CodeUnavailable {
			c.log.Warn("cannot verify a rotated token (the cluster's keys cannot be had); asking EKS Auth", append(attrs, "err", err)...)
		} else {
			c.log.Warn("a token naming a pod with cached credentials does not verify; asking EKS Auth", append(attrs, "err", err)...)
		}
		return Credentials{}, false
	}
	verified := podKey{issuer: issuer, namespace: id.Namespace, serviceAccount: id.ServiceAccount,
		serviceAccountUID: id.ServiceAccountUID, podUID: id.PodUID}
	if verified != tok.pod {
		c.log.Warn("a verified token does not name the pod its claims were read as; asking EKS Auth", attrs...)
		return Credentials{}, false
	}
	tok.expires = id.TokenExpiry

	now := c.cfg.now()
	c.mu.Lock()
	el = c.pods[tok.pod] // the entry may have gone, or been replaced, meanwhile
	if el == nil || !c.servableLocked(el.Value.(*entry), now) {
		c.mu.Unlock()
		return Credentials{}, false
	}
	e := el.Value.(*entry)
	c.addTokenLocked(el, tok)
	c.lru.MoveToFront(el)
	e.servedUntil = later(e.servedUntil, e.creds.Expiration)
	e.idle = false
	creds := e.creds
	c.mu.Unlock()
	c.metrics.cache(stateReused)
	c.log.Debug("rotated token verified; reusing its pod's credentials", append(attrs, "access_key_id", creds.AccessKeyID)...)
	return creds, true
}
