package agent

import (
	"context"
	"time"
)

// PodChecker tells whether a pod still exists. The AWS agent 0.1 renews a
// dead pod's credentials for as long as its token lives (up to 24 h,
// aws/eks-pod-identity-agent#171); asking the API server before a
// background renewal stops that. APIServerPods is one.
type PodChecker interface {
	// PodGone is true only when the cluster positively says so: there is
	// no pod namespace/name, or the pod of that name has another UID (the
	// name was reused, e.g. by a StatefulSet). Any doubt is an error, and
	// an error never stops a renewal.
	PodGone(ctx context.Context, namespace, name, uid string) (bool, error)
}

// podCheckWithin bounds one existence check. The check only delays a
// background renewal, which has hours of slack, but it holds one of the
// sweep's goroutines and, if the API server hangs, should give up long
// before the entry would be due again.
const podCheckWithin = 2 * time.Second

// podCheckWarnEvery bounds the warnings about failed checks: with the API
// server down every renewal fails its check, and one line a minute tells
// the operator as much as thousands would.
const podCheckWarnEvery = time.Minute

// podRef names the pod an entry's credentials were issued for.
type podRef struct{ namespace, name, uid string }

// podToCheckLocked is the pod to ask about before renewing e, if the
// agent checks pods and e's pod is known. It is known from the token EKS
// Auth accepted (or a rotated token whose signature verified), never from
// claims nobody checked: a made-up token naming a neighbour's pod never
// gets an entry, so it cannot stop the neighbour's renewals.
func (c *cache) podToCheckLocked(e *entry) (podRef, bool) {
	if c.cfg.pods == nil || !e.pod.ok() || e.tok.podName == "" {
		return podRef{}, false
	}
	return podRef{namespace: e.pod.namespace, name: e.tok.podName, uid: e.pod.podUID}, true
}

// renewLocked starts the background renewal of e, after checking, when
// its pod is known, that the pod is still there. The check runs in its own
// goroutine so that a slow API server never holds up the sweep, and never
// under the lock; meanwhile e.checking keeps later sweeps off the entry.
func (c *cache) renewLocked(e *entry) {
	ref, ok := c.podToCheckLocked(e)
	if !ok {
		c.flightLocked(e.tok, true)
		return
	}
	e.checking = true
	c.wg.Add(1)
	go c.checkThenRenew(e, ref)
}

// checkThenRenew asks whether ref is gone: if so it drops e, whose
// credentials nobody can still need; otherwise (alive, or any error: fail
// open) it renews e if that is still due and wanted.
//
// Dropping, rather than keeping the credentials until they lapse, means
// the agent no longer hands them out at all: the only one who could still
// ask is someone holding the dead pod's token, and that request now goes
// to EKS Auth, which refuses a token whose pod is gone when it reviews
// tokens with the API server. The AWS agent likewise stops renewing.
func (c *cache) checkThenRenew(e *entry, ref podRef) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.life, podCheckWithin)
	gone, err := c.cfg.pods.PodGone(ctx, ref.namespace, ref.name, ref.uid)
	cancel()
	c.metrics.podCheck(gone, err)

	c.mu.Lock()
	defer c.mu.Unlock()
	e.checking = false
	if c.entries[e.tok.key] != e || c.life.Err() != nil {
		return // dropped meanwhile, or the agent is stopping
	}
	attrs := []any{"token", e.tok.key.String(), "namespace", ref.namespace, "pod", ref.name, "pod_uid", ref.uid,
		"service_account", e.tok.serviceAccount}
	now := c.cfg.now()
	if err == nil && gone {
		c.removeLocked(e)
		c.metrics.cache(stateGone)
		c.log.Info("the pod is gone; dropped its credentials instead of renewing them",
			append(attrs, "expiration", e.creds.Expiration)...)
		return
	}
	if err != nil && now.Sub(c.podWarnedAt) >= podCheckWarnEvery {
		c.podWarnedAt = now
		c.log.Warn("cannot tell whether a pod still exists; renewing its credentials (warned at most once a minute)",
			append(attrs, "err", err)...)
	}
	if c.renewableLocked(e, now) {
		c.flightLocked(e.tok, true)
	}
}
