package doctor

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/webhook"
)

// webhookName is the chart's webhook (deploy/helm/podidentity/templates/webhook.yaml).
const webhookName = "pod-identity.podidentity.io"

// checkMutation tells whether the webhook gave the pod's containers the
// variables and the mount and, when it did not, every reason it can see:
// the pod may have more than one.
func (d *doctor) checkMutation(ctx context.Context) {
	if d.pod == nil {
		d.add(CheckMutation, Skipped, "", "the pod could not be read")
		return
	}
	skip := map[string]bool{}
	for _, n := range strings.Split(d.pod.Annotations[webhook.AnnotationSkipContainers], ",") {
		if n = strings.TrimSpace(n); n != "" {
			skip[n] = true
		}
	}
	var mutated, skipped, preset, missing []string
	for _, c := range append(append([]corev1.Container{}, d.pod.Spec.InitContainers...), d.pod.Spec.Containers...) {
		uri, file := envValue(c, webhook.EnvCredentialsURI), envValue(c, webhook.EnvTokenFile)
		switch {
		case skip[c.Name]:
			skipped = append(skipped, c.Name)
		case uri != "" && file == webhook.TokenFile && mounts(c):
			mutated = append(mutated, c.Name)
		case uri != "" || file != "":
			// Set, but not as the webhook sets them: its owner decided.
			preset = append(preset, c.Name)
		default:
			missing = append(missing, c.Name)
		}
	}
	if len(missing) == 0 && len(mutated) > 0 {
		d.add(CheckMutation, OK, "", "containers %s have %s, %s and the token mount", joinNames(mutated), webhook.EnvCredentialsURI, webhook.EnvTokenFile)
		return
	}
	var why []string
	fix := "recreate the pod (kubectl rollout restart, or delete it if nothing recreates it) once the cause is gone"
	if len(skipped) > 0 {
		why = append(why, fmt.Sprintf("%s annotation skips %s", webhook.AnnotationSkipContainers, joinNames(skipped)))
	}
	if len(preset) > 0 {
		why = append(why, fmt.Sprintf("%s set %s or %s themselves, so the webhook leaves them alone", joinNames(preset), webhook.EnvCredentialsURI, webhook.EnvTokenFile))
	}
	if a := d.association; a != nil && !a.CreatedAt.IsZero() {
		// creationTimestamp has whole seconds: within the association's
		// second the order cannot be told, and the webhook's negative
		// cache makes "just after" as bad as "before".
		created, assoc := d.pod.CreationTimestamp.Time, a.CreatedAt.Truncate(time.Second)
		when := fmt.Sprintf("the pod was created at %s, %%s association %s (%s): the webhook only mutates pods as they are created",
			created.UTC().Format(time.RFC3339), a.ID, a.CreatedAt.UTC().Format(time.RFC3339Nano))
		switch {
		case created.Before(assoc):
			why = append(why, fmt.Sprintf(when, "before"))
		case created.Equal(assoc):
			why = append(why, fmt.Sprintf(when, "in the same second as"))
		}
	}
	if len(missing) > 0 {
		why = append(why, d.webhookHealth(ctx)...)
	}
	if d.association == nil && len(missing) > 0 {
		why = append(why, "no association applies (see above), so the webhook had nothing to inject")
	}
	if len(why) == 0 {
		why = append(why, "the webhook may have been unable to ask the server when the pod was created (kubectl printed a warning then; see the webhook's log)")
	}
	d.add(CheckMutation, Problem, fix, "containers %s lack the credentials variables or mount: %s", joinNames(append(missing, append(skipped, preset...)...)), strings.Join(why, "; "))
}

// webhookHealth looks for the chart's MutatingWebhookConfiguration and
// the Service behind it: a pod admitted while it had no ready endpoints
// was admitted unmutated (failurePolicy Ignore) without a trace.
func (d *doctor) webhookHealth(ctx context.Context) []string {
	cfgs, err := d.kube.MutatingWebhookConfigurations(ctx)
	if err != nil {
		return []string{fmt.Sprintf("cannot list MutatingWebhookConfigurations to check the webhook: %v", err)}
	}
	for _, cfg := range cfgs {
		for _, w := range cfg.Webhooks {
			if w.Name != webhookName {
				continue
			}
			svc := w.ClientConfig.Service
			if svc == nil {
				// A URL webhook: nothing in the cluster tells whether it is up.
				return nil
			}
			n, err := d.kube.ReadyEndpoints(ctx, svc.Namespace, svc.Name)
			switch {
			case err != nil:
				return []string{fmt.Sprintf("cannot count the ready endpoints of the webhook's service %s/%s: %v", svc.Namespace, svc.Name, err)}
			case n == 0:
				return []string{fmt.Sprintf("the webhook's service %s/%s has no ready endpoints, so pods are admitted unmutated (kubectl -n %s logs deploy/%s)",
					svc.Namespace, svc.Name, svc.Namespace, svc.Name)}
			}
			return nil
		}
	}
	return []string{fmt.Sprintf("no MutatingWebhookConfiguration has the webhook %s: install the chart's webhook", webhookName)}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			if e.Value == "" && e.ValueFrom != nil {
				return "(from " + name + " source)"
			}
			return e.Value
		}
	}
	return ""
}

func mounts(c corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == webhook.VolumeName && path.Clean(m.MountPath) == webhook.MountPath {
			return true
		}
	}
	return false
}

// checkTokenVolume reads the projected token as the kubelet will write
// it: a token for another audience is refused by the server, whatever
// else is right.
func (d *doctor) checkTokenVolume() {
	if d.pod == nil {
		d.add(CheckTokenVolume, Skipped, "", "the pod could not be read")
		return
	}
	for _, v := range d.pod.Spec.Volumes {
		if v.Name != webhook.VolumeName {
			continue
		}
		var tok *corev1.ServiceAccountTokenProjection
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					tok = s.ServiceAccountToken
				}
			}
		}
		if tok == nil {
			d.add(CheckTokenVolume, Problem, "rename that volume: the webhook leaves a pod with a foreign "+webhook.VolumeName+" volume alone",
				"volume %s is not a projected service-account token", webhook.VolumeName)
			return
		}
		var exp int64 = 3600 // Kubernetes' default
		if tok.ExpirationSeconds != nil {
			exp = *tok.ExpirationSeconds
		}
		switch {
		case tok.Audience != podidentity.Audience:
			d.add(CheckTokenVolume, Problem,
				fmt.Sprintf("set audience %s in the pod's %s volume (or remove the volume and let the webhook add it), then recreate the pod", podidentity.Audience, webhook.VolumeName),
				"the token's audience is %q; the server accepts only %s", tok.Audience, podidentity.Audience)
		case path.Clean(tok.Path) != webhook.TokenPath:
			d.add(CheckTokenVolume, Problem, "use path "+webhook.TokenPath+": "+webhook.EnvTokenFile+" points there",
				"the token is written to %q", tok.Path)
		default:
			d.add(CheckTokenVolume, OK, "", "audience %s, expirationSeconds %d (the kubelet renews it after 80%%)", tok.Audience, exp)
		}
		return
	}
	d.add(CheckTokenVolume, Skipped, "", "the pod has no %s volume (see %s)", webhook.VolumeName, CheckMutation)
}
