package podidentity

import (
	"context"
	"log/slog"
)

// LogAuditor is the Auditor that writes each record as one structured
// "credentials issued" log line: who (cluster, namespace, service account,
// pod, node) got which role's credentials, named by their access key id,
// never by a secret.
type LogAuditor struct{ Log *slog.Logger }

// Audit writes rec.
func (l LogAuditor) Audit(ctx context.Context, rec AuditRecord) {
	attrs := []slog.Attr{slog.Time("expiration", rec.Expiration)}
	// Only what the token and the association said: a pod without a
	// node claim or a role without a target adds no empty field.
	for _, kv := range [][2]string{
		{"cluster", rec.Pod.Cluster}, {"namespace", rec.Pod.Namespace}, {"service_account", rec.Pod.ServiceAccount},
		{"pod", rec.Pod.PodName}, {"pod_uid", rec.Pod.PodUID}, {"association_id", rec.AssociationID},
		{"role_arn", rec.RoleARN}, {"assumed_role_arn", rec.AssumedRoleARN}, {"access_key_id", rec.AccessKeyID},
		{"node", rec.NodeName}, {"instance_id", rec.InstanceID}, {"zone", rec.Zone},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	l.Log.LogAttrs(ctx, slog.LevelInfo, "credentials issued", attrs...)
}
