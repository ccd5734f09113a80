package kube

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eksauth"

	"github.com/podidentity/podidentity/internal/store/pgtest"
)

// TestChartOnPostgres runs the server exactly as the chart configures it
// for PostgreSQL with several replicas: the rendered ConfigMap verbatim, the
// database password and the principals' secret keys from the rendered
// Secrets through the environment the Deployment gives them. Two replicas
// share one database: an association created through one serves a real
// kube-apiserver token on the other, and each chart principal can call what
// it needs and nothing else.
func TestChartOnPostgres(t *testing.T) {
	c := startCluster(t)
	pg := pgtest.Start(t)
	dbURL, err := url.Parse(pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(dbURL.Path, "/")

	const adminKey, adminSecret = "AKIACHARTADMIN000001", "chart-admin-secret-access-key"
	out, err := helm(t, "template", release, chart, "--namespace", systemNS,
		"--set", "clusterName="+clusterSignature,
		"--set-string", "accountId="+accountID,
		"--set", "server.cluster.issuer="+c.URL,
		"--set", "server.cluster.caFile="+c.CAFile,
		"--set", "server.cluster.tokenReview.enabled=false",
		"--set", "server.storage.type=postgres",
		"--set", "server.storage.postgres.url="+pg.URLWithoutPassword(dbName),
		"--set", "server.storage.postgres.passwordSecret.name=podidentity-db",
		"--set", "server.replicas=2",
		"--set", "server.extraPrincipals[0].arn=arn:aws:iam::"+accountID+":user/admin",
		"--set", "server.extraPrincipals[0].accessKeyId="+adminKey,
		"--set", "server.extraPrincipals[0].secretAccessKeyEnv=ADMIN_SECRET_ACCESS_KEY",
		"--set", "server.extraPrincipals[0].actions={eks:*}",
		"--set", "server.extraPrincipals[0].clusters={*}",
		"--set", "server.extraPrincipals[0].passRoles={*}",
	)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{objs: splitYAML(t, out)}
	configFile := filepath.Join(t.TempDir(), "podidentity.yaml")
	if err := os.WriteFile(configFile, []byte(dig(r.find("ConfigMap", "server"), "data", "podidentity.yaml").(string)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The Deployment's environment, resolved as the kubelet would.
	env := append(baseEnv(), "ADMIN_SECRET_ACCESS_KEY="+adminSecret)
	deployment := r.find("Deployment", "server")
	for _, e := range dig(deployment, "spec", "template", "spec", "containers", 0, "env").([]any) {
		name, ref := dig(e, "name").(string), dig(e, "valueFrom", "secretKeyRef")
		switch secret, _ := dig(ref, "name").(string); {
		case secret == "podidentity-db":
			env = append(env, name+"="+pg.Password())
		case secret != "":
			encoded, _ := dig(r.find("Secret", secret), "data", dig(ref, "key").(string)).(string)
			value, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil || len(value) == 0 {
				t.Fatalf("env %s: no value in Secret %s: %v", name, secret, err)
			}
			env = append(env, name+"="+string(value))
		}
	}
	secretOf := func(envName string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, envName+"="); ok {
				return v
			}
		}
		t.Fatalf("the Deployment sets no %s", envName)
		return ""
	}

	replicaA := start(t, env, "server", "--config", configFile, "--listen", "127.0.0.1:0")
	replicaB := start(t, env, "server", "--config", configFile, "--listen", "127.0.0.1:0")
	ctx := context.Background()
	admin := eks.NewFromConfig(principal{adminKey, adminSecret}.config(), func(o *eks.Options) { o.BaseEndpoint = aws.String(replicaA.URL) })
	webhookOnB := eks.NewFromConfig(principal{"AKIAPODIDENTITYWEBHOOK", secretOf("PODIDENTITY_WEBHOOK_SECRET_ACCESS_KEY")}.config(),
		func(o *eks.Options) { o.BaseEndpoint = aws.String(replicaB.URL) })
	agent := principal{"AKIAPODIDENTITYNODEAGENT", secretOf("PODIDENTITY_AGENT_SECRET_ACCESS_KEY")}.config()
	agentOnB := eksauth.NewFromConfig(agent, func(o *eksauth.Options) { o.BaseEndpoint = aws.String(replicaB.URL) })

	const ns, sa = "chart-pg", "app"
	c.must(t, asList(t, []map[string]any{namespace(ns)}), "apply", "-f", "-")
	c.must(t, nil, "create", "serviceaccount", sa, "-n", ns)
	created, err := admin.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{
		ClusterName: aws.String(clusterSignature), Namespace: aws.String(ns), ServiceAccount: aws.String(sa), RoleArn: aws.String(appRole),
	})
	if err != nil {
		t.Fatalf("CreatePodIdentityAssociation on replica A: %v", err)
	}

	// The webhook's principal lists associations through the other replica.
	listed, err := webhookOnB.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
		ClusterName: aws.String(clusterSignature), Namespace: aws.String(ns), ServiceAccount: aws.String(sa),
	})
	if err != nil || len(listed.Associations) != 1 || aws.ToString(listed.Associations[0].AssociationId) != aws.ToString(created.Association.AssociationId) {
		t.Fatalf("ListPodIdentityAssociations on replica B as the webhook: %v, %+v", err, listed)
	}
	if _, err := webhookOnB.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{
		ClusterName: aws.String(clusterSignature), AssociationId: created.Association.AssociationId,
	}); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Errorf("the webhook's principal may delete associations: %v", err)
	}

	// The agent's principal exchanges a real pod token on the other replica.
	pod := (&stack{kube: c}).createPod(t, []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"chart-pg-pod","namespace":"`+ns+`"},
		"spec":{"serviceAccountName":"`+sa+`","containers":[{"name":"app","image":"busybox"}]}}`))
	token := strings.TrimSpace(c.must(t, nil, "create", "token", sa, "-n", ns, "--audience", "pods.eks.amazonaws.com",
		"--bound-object-kind", "Pod", "--bound-object-name", "chart-pg-pod",
		"--bound-object-uid", dig(pod, "metadata", "uid").(string), "--duration", "1h"))
	got, err := agentOnB.AssumeRoleForPodIdentity(ctx, &eksauth.AssumeRoleForPodIdentityInput{ClusterName: aws.String(clusterSignature), Token: aws.String(token)})
	if err != nil {
		t.Fatalf("AssumeRoleForPodIdentity on replica B as the agent: %v", err)
	}
	if aws.ToString(got.PodIdentityAssociation.AssociationId) != aws.ToString(created.Association.AssociationId) {
		t.Errorf("credentials for association %s, want %s", aws.ToString(got.PodIdentityAssociation.AssociationId), aws.ToString(created.Association.AssociationId))
	}
	if strings.Contains(replicaA.Logs.String()+replicaB.Logs.String(), pg.Password()) {
		t.Error("the database password appears in a replica's logs")
	}
}
