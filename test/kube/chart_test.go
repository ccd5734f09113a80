package kube

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/config"
)

const chart = "deploy/helm/podidentity"

func TestHelmLint(t *testing.T) {
	needTools(t)
	for _, args := range [][]string{
		{"--set", "clusterName=demo"},
		{"-f", "deploy/manifests/values.yaml"},
	} {
		if out, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
	// Mistakes are caught when rendering, not by the API server or later.
	for _, tc := range []struct{ set, why string }{
		{"", "clusterName is required"},
		{"clusterName=demo,webhook.timeoutSeconds=60", "/webhook/timeoutSeconds"},
		{"clusterName=demo,webhook.ipFamily=ipv5", "/webhook/ipFamily"},
		{"clusterName=demo,webhook.tokenExpiration=60", "/webhook/tokenExpiration"},
		{"clusterName=demo,sever.replicas=1", "'sever' not allowed"},
		{"clusterName=demo,server.replicas=2", "/server/replicas"},
		{"clusterName=demo,server.storage.type=postgres", "/server/storage/postgres/url"},
		{"clusterName=demo,server.storage.type=postgres,server.storage.postgres.url=postgres://u:secret@db/p", "/server/storage/postgres/url"},
		{"clusterName=demo,server.storage.type=mysql", "/server/storage/type"},
		{"clusterName=bad.name", "/clusterName"},
		{"clusterName=demo,webhook.ipFamily=ipv6,agent.ipv6=false", "set agent.ipv6 true"},
		{"clusterName=demo,webhook.sidecar.enabled=true,server.cluster.tokenReview.enabled=false", "needs server.cluster.tokenReview.enabled"},
		{"clusterName=demo,webhook.sidecar.port=65535", "/webhook/sidecar/port"},
	} {
		args := []string{"template", "x", chart}
		if tc.set != "" {
			args = append(args, "--set", tc.set)
		}
		if _, err := helm(t, args...); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("helm template --set %q: %v, want an error about %s", tc.set, err, tc.why)
		}
	}
}

// chartCase is one set of values the chart is rendered with.
type chartCase struct {
	name  string
	set   []string
	check func(t *testing.T, r *rendered)
}

// rendered is the chart's output, by kind and name.
type rendered struct {
	objs   []map[string]any
	config *config.File
}

func (r *rendered) find(kind, nameSuffix string) map[string]any {
	for _, o := range r.objs {
		name, _ := dig(o, "metadata", "name").(string)
		if o["kind"] == kind && strings.HasSuffix(name, nameSuffix) {
			return o
		}
	}
	return nil
}

func (r *rendered) count(kind string) int {
	n := 0
	for _, o := range r.objs {
		if o["kind"] == kind {
			n++
		}
	}
	return n
}

// containerArgs returns the args of the first container of a workload.
func (r *rendered) containerArgs(t *testing.T, kind, nameSuffix string) []string {
	t.Helper()
	o := r.find(kind, nameSuffix)
	if o == nil {
		t.Fatalf("no %s *%s", kind, nameSuffix)
	}
	var args []string
	for _, a := range dig(o, "spec", "template", "spec", "containers", 0, "args").([]any) {
		args = append(args, a.(string))
	}
	return args
}

// dig walks maps and lists; nil when the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

var crdsOnce sync.Once

// prepareDryRun makes the cluster ready to take the chart's objects with
// --dry-run=server: the release namespace exists, and cert-manager's kinds
// and the Prometheus Operator's kinds are known.
func prepareDryRun(t *testing.T, c *kubeCluster) {
	t.Helper()
	crdsOnce.Do(func() {
		for _, file := range []string{"cert-manager-crds-stub.yaml", "prometheus-operator-crds-stub.yaml"} {
			stub, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			c.must(t, stub, "apply", "-f", "-")
		}
		c.must(t, nil, "wait", "--for", "condition=Established", "--timeout", "60s",
			"crd/issuers.cert-manager.io", "crd/certificates.cert-manager.io",
			"crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
		c.must(t, asList(t, []map[string]any{namespace(systemNS)}), "apply", "-f", "-")
	})
}

// TestHelmChart renders the chart with several sets of values, checks what
// each must hold (least-privilege RBAC, a configuration the server accepts,
// the webhook's failure policy), and has the real API server validate every
// object with --dry-run=server.
func TestHelmChart(t *testing.T) {
	c := startCluster(t)
	prepareDryRun(t, c)

	cases := []chartCase{
		{"defaults", nil, func(t *testing.T, r *rendered) {
			role := r.find("ClusterRole", "server:tokenreview")
			want := []any{map[string]any{"apiGroups": []any{"authentication.k8s.io"}, "resources": []any{"tokenreviews"}, "verbs": []any{"create"}}}
			if role == nil || !cmp.Equal(role["rules"], want) {
				t.Errorf("the server's ClusterRole is %v, want exactly create on tokenreviews", role)
			}
			getPods := []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}}
			if role := r.find("ClusterRole", "agent:get-pods"); role == nil || !cmp.Equal(role["rules"], getPods) {
				t.Errorf("the agent's ClusterRole is %v, want exactly get on pods", role)
			}
			if b := r.find("ClusterRoleBinding", "agent:get-pods"); dig(b, "roleRef", "name") != dig(r.find("ClusterRole", "agent:get-pods"), "metadata", "name") {
				t.Errorf("the agent's get-pods binding is %v", b)
			}
			if n := r.count("ClusterRole") + r.count("Role"); n != 2 {
				t.Errorf("%d roles, want the one for TokenReview and the agent's get on pods", n)
			}
			for _, sa := range []string{"agent", "webhook"} {
				if o := r.find("ServiceAccount", sa); o == nil || o["automountServiceAccountToken"] != false {
					t.Errorf("the %s's service account must not mount a token: %v", sa, o)
				}
			}
			hook := dig(r.find("MutatingWebhookConfiguration", "webhook"), "webhooks", 0)
			for k, want := range map[string]any{"failurePolicy": "Ignore", "reinvocationPolicy": "IfNeeded", "sideEffects": "None"} {
				if got := dig(hook, k); got != want {
					t.Errorf("webhook %s = %v, want %v", k, got, want)
				}
			}
			if got := dig(hook, "namespaceSelector", "matchExpressions", 0, "values", 0); got != systemNS {
				t.Errorf("the webhook does not exclude its own namespace: %v", got)
			}
			// Without cert-manager's API in the cluster, Helm's own CA.
			if r.count("Certificate") != 0 || r.find("Secret", "webhook-tls") == nil {
				t.Errorf("no cert-manager: %d Certificates, TLS Secret %v; want 0 and one", r.count("Certificate"), r.find("Secret", "webhook-tls") != nil)
			}
			if admin := r.find("Secret", "-admin"); admin == nil || dig(admin, "data", "secret-access-key") == nil {
				t.Errorf("no administrator Secret: %v", admin)
			}
			cl := r.config.Clusters[0]
			if !cl.Discovery || cl.TokenReview == nil || cl.Name != "demo" {
				t.Errorf("server cluster config %+v", cl)
			}
			if len(r.config.Auth.Principals) != 3 {
				t.Errorf("principals %+v, want the webhook's, the agents' and the administrator's", r.config.Auth.Principals)
			}
			args := r.containerArgs(t, "DaemonSet", "agent")
			if !slices.Contains(args, "--bind-hosts=169.254.170.23,fd00:ec2::23") || !slices.Contains(args, "--probe-port=2703") || !slices.Contains(args, "--metrics-port=2705") {
				t.Errorf("agent args %q", args)
			}
			ds := r.find("DaemonSet", "agent")
			if dig(ds, "spec", "template", "spec", "hostNetwork") != true {
				t.Error("the agent does not use the host network")
			}
			if got := dig(ds, "spec", "template", "spec", "initContainers", 0, "securityContext", "capabilities", "add", 0); got != "NET_ADMIN" {
				t.Errorf("the agent's init container has capability %v, want NET_ADMIN", got)
			}
			// Rotated tokens are verified with the API server's keys: the
			// agent's pod mounts its token, may read /openid/v1/jwks, and
			// keeps the keys on the node.
			if dig(ds, "spec", "template", "spec", "automountServiceAccountToken") != true || !slices.Contains(args, "--jwks-cache-file=/var/lib/podidentity-agent/jwks.json") {
				t.Errorf("the agent cannot read the cluster's keys: args %q", args)
			}
			if b := r.find("ClusterRoleBinding", "agent-issuer-discovery"); b == nil || dig(b, "roleRef", "name") != "system:service-account-issuer-discovery" {
				t.Errorf("the agent's issuer-discovery binding is %v", b)
			}
			if !slices.Contains(args, "--check-pods=true") {
				t.Errorf("agent args %q lack --check-pods=true", args)
			}
		}},
		{"pod checks alone", []string{"agent.verifyRotatedTokens=false"}, func(t *testing.T, r *rendered) {
			ds := r.find("DaemonSet", "agent")
			if dig(ds, "spec", "template", "spec", "automountServiceAccountToken") != true || r.find("ClusterRoleBinding", "agent:get-pods") == nil {
				t.Error("checkPods needs the agent's token and its get-pods binding")
			}
			if r.find("ClusterRoleBinding", "agent-issuer-discovery") != nil {
				t.Error("issuer discovery is bound without verifyRotatedTokens")
			}
		}},
		{"cert-manager installed", []string{"--api-versions=cert-manager.io/v1/Certificate"}, func(t *testing.T, r *rendered) {
			if r.count("Certificate") != 2 || r.count("Issuer") != 2 || r.find("Secret", "webhook-tls") != nil {
				t.Errorf("cert-manager: %d Certificates, %d Issuers; want 2, 2 and no generated TLS Secret", r.count("Certificate"), r.count("Issuer"))
			}
		}},
		{"no cert-manager", []string{"webhook.certificate.certManager=false"}, func(t *testing.T, r *rendered) {
			if r.count("Certificate") != 0 || r.find("Secret", "webhook-tls") == nil {
				t.Error("want a generated TLS Secret and no Certificate")
			}
			if dig(r.find("MutatingWebhookConfiguration", "webhook"), "webhooks", 0, "clientConfig", "caBundle") == nil {
				t.Error("no caBundle")
			}
		}},
		{"no TokenReview", []string{"server.cluster.tokenReview.enabled=false", "server.cluster.allowAnonymousDiscovery=false",
			"agent.verifyRotatedTokens=false", "agent.checkPods=false"}, func(t *testing.T, r *rendered) {
			if args := r.containerArgs(t, "DaemonSet", "agent"); !slices.Contains(args, "--jwks-url=none") || !slices.Contains(args, "--check-pods=false") {
				t.Errorf("agent args %q: without verifyRotatedTokens and checkPods the agent must not look for keys or pods", args)
			}
			if got := dig(r.find("DaemonSet", "agent"), "spec", "template", "spec", "automountServiceAccountToken"); got != false {
				t.Errorf("the agent mounts a token (%v) it does not need", got)
			}
			if n := r.count("ClusterRole") + r.count("ClusterRoleBinding") + r.count("Role") + r.count("RoleBinding"); n != 0 {
				t.Errorf("%d RBAC objects, want none", n)
			}
			if r.config.Clusters[0].TokenReview != nil {
				t.Error("the server config still asks for TokenReview")
			}
		}},
		{"fail closed, IPv6", []string{"webhook.failClosed=true", "webhook.ipFamily=ipv6", "webhook.timeoutSeconds=5"}, func(t *testing.T, r *rendered) {
			if got := dig(r.find("MutatingWebhookConfiguration", "webhook"), "webhooks", 0, "failurePolicy"); got != "Fail" {
				t.Errorf("failurePolicy %v", got)
			}
			args := r.containerArgs(t, "Deployment", "webhook")
			for _, want := range []string{"--fail-closed=true", "--ip-family=ipv6", "--lookup-timeout=3s"} {
				if !slices.Contains(args, want) {
					t.Errorf("webhook args %q lack %s", args, want)
				}
			}
			if args := r.containerArgs(t, "DaemonSet", "agent"); !slices.Contains(args, "--bind-hosts=169.254.170.23,fd00:ec2::23") {
				t.Errorf("agent args %q", args)
			}
		}},
		{"IPv4 only", []string{"agent.ipv6=false"}, func(t *testing.T, r *rendered) {
			if args := r.containerArgs(t, "DaemonSet", "agent"); !slices.Contains(args, "--bind-hosts=169.254.170.23") {
				t.Errorf("agent args %q", args)
			}
			init := dig(r.find("DaemonSet", "agent"), "spec", "template", "spec", "initContainers", 0)
			if args := fmt.Sprint(dig(init, "args")); args != "[agent initialize --bind-hosts=169.254.170.23]" || dig(init, "image") != dig(r.find("DaemonSet", "agent"), "spec", "template", "spec", "containers", 0, "image") {
				t.Errorf("the init container (%v) should set up 169.254.170.23 alone, from the podidentity image", init)
			}
		}},
		{"existing secret and issuer", []string{"apiCredentials.existingSecret=mine", "server.admin.existingSecret=theirs", "webhook.certificate.certManager=true", "webhook.certificate.issuerRef.name=corp-ca", "webhook.certificate.issuerRef.kind=ClusterIssuer"}, func(t *testing.T, r *rendered) {
			if r.count("Secret") != 0 || r.count("Issuer") != 0 || r.count("Certificate") != 1 {
				t.Errorf("%d Secrets, %d Issuers, %d Certificates; want 0, 0, 1", r.count("Secret"), r.count("Issuer"), r.count("Certificate"))
			}
		}},
		{"extra config", []string{
			"server.extraConfig.limits.associationsPerCluster=100",
			"server.extraConfig.log.level=debug",
			"server.extraPrincipals[0].arn=arn:aws:iam::123456789012:user/admin",
			"server.extraPrincipals[0].accessKeyId=AKIAADMINADMINADMIN",
			"server.extraPrincipals[0].secretAccessKeyEnv=ADMIN_SECRET",
			"server.extraPrincipals[0].actions={eks:*}",
			"server.extraPrincipals[0].clusters={*}",
			"server.extraPrincipals[0].passRoles={*}",
		}, func(t *testing.T, r *rendered) {
			if r.config.Limits.AssociationsPerCluster != 100 || r.config.Log.Level != "debug" || len(r.config.Auth.Principals) != 4 {
				t.Errorf("config %+v", r.config)
			}
		}},
		{"PostgreSQL, three replicas", []string{
			"server.storage.type=postgres",
			"server.storage.postgres.url=postgres://podidentity@db.example:5432/podidentity?sslmode=verify-full",
			"server.storage.postgres.passwordSecret.name=podidentity-db",
			"server.storage.postgres.maxConns=8",
			"server.replicas=3",
		}, func(t *testing.T, r *rendered) {
			if r.config.Storage != "postgres://podidentity@db.example:5432/podidentity?sslmode=verify-full" ||
				r.config.StorageOptions.PasswordEnv != "PODIDENTITY_DATABASE_PASSWORD" || r.config.StorageOptions.MaxConns != 8 {
				t.Errorf("storage %q, options %+v", r.config.Storage, r.config.StorageOptions)
			}
			if r.count("PersistentVolumeClaim") != 0 {
				t.Error("a PersistentVolumeClaim is rendered for PostgreSQL storage")
			}
			d := r.find("Deployment", "server")
			if dig(d, "spec", "replicas") != 3 || dig(d, "spec", "strategy", "type") != "RollingUpdate" || dig(d, "spec", "strategy", "rollingUpdate", "maxUnavailable") != 0 {
				t.Errorf("server Deployment spec: replicas %v, strategy %v", dig(d, "spec", "replicas"), dig(d, "spec", "strategy"))
			}
			for _, v := range dig(d, "spec", "template", "spec", "volumes").([]any) {
				if dig(v, "persistentVolumeClaim") != nil {
					t.Errorf("the server still mounts a volume claim: %v", v)
				}
			}
			var password any
			for _, e := range dig(d, "spec", "template", "spec", "containers", 0, "env").([]any) {
				if dig(e, "name") == "PODIDENTITY_DATABASE_PASSWORD" {
					password = dig(e, "valueFrom", "secretKeyRef")
				}
			}
			if !cmp.Equal(password, map[string]any{"name": "podidentity-db", "key": "password"}) {
				t.Errorf("database password from %v, want Secret podidentity-db key password", password)
			}
			if pdb := r.find("PodDisruptionBudget", "server"); dig(pdb, "spec", "minAvailable") != 1 {
				t.Errorf("server PodDisruptionBudget %v", pdb)
			}
		}},
		{"Prometheus Operator", []string{
			"monitoring.podMonitor.enabled=true", "monitoring.podMonitor.labels.release=kps", "monitoring.prometheusRule.enabled=true",
		}, func(t *testing.T, r *rendered) {
			for component, port := range map[string]string{"server": "http", "agent": "metrics", "webhook": "https"} {
				pm := r.find("PodMonitor", "-"+component)
				if got := dig(pm, "spec", "podMetricsEndpoints", 0, "port"); got != port {
					t.Errorf("PodMonitor for the %s scrapes port %v, want %s", component, got, port)
				}
				if dig(pm, "metadata", "labels", "release") != "kps" {
					t.Errorf("PodMonitor for the %s lacks the selector label", component)
				}
				// The named port must exist on the component's pods.
				workload := r.find("Deployment", component)
				if workload == nil {
					workload = r.find("DaemonSet", component)
				}
				found := false
				for _, p := range dig(workload, "spec", "template", "spec", "containers", 0, "ports").([]any) {
					found = found || dig(p, "name") == port
				}
				if !found {
					t.Errorf("the %s's container has no port named %s", component, port)
				}
			}
			tls := dig(r.find("PodMonitor", "-webhook"), "spec", "podMetricsEndpoints", 0, "tlsConfig")
			if dig(tls, "serverName") != "podidentity-webhook."+systemNS+".svc" || dig(tls, "ca", "secret", "name") == nil || dig(tls, "insecureSkipVerify") != nil {
				t.Errorf("the webhook's PodMonitor does not verify its certificate: %v", tls)
			}
			rules, err := os.ReadFile(filepath.Join(repoRoot, chart, "files", "prometheus-rules.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want := splitYAML(t, string(rules))[0]
			if d := cmp.Diff(want, dig(r.find("PrometheusRule", "podidentity"), "spec")); d != "" {
				t.Errorf("PrometheusRule spec (-want +got):\n%s", d)
			}
		}},
		{"sts backend, identity from a Secret", []string{"server.credentials.backend=sts", "server.credentials.sts.existingSecret=server-aws"}, func(t *testing.T, r *rendered) {
			if r.config.Credentials.Backend != "sts" || r.config.Credentials.Region != "us-west-2" {
				t.Errorf("credentials %+v, want the sts backend in the chart's region", r.config.Credentials)
			}
			envFrom := dig(r.find("Deployment", "server"), "spec", "template", "spec", "containers", 0, "envFrom", 0, "secretRef", "name")
			if envFrom != "server-aws" {
				t.Errorf("the server's AWS identity comes from %v, want the Secret server-aws", envFrom)
			}
		}},
		{"service accounts and security contexts of one's own", []string{
			"server.serviceAccount.create=false", "server.serviceAccount.name=corp-server",
			"webhook.serviceAccount.annotations.team=platform", "agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
			"agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
			"webhook.podSecurityContext.runAsUser=1000", "nameOverride=pid",
		}, func(t *testing.T, r *rendered) {
			if r.find("ServiceAccount", "-server") != nil {
				t.Error("a server ServiceAccount was created with serviceAccount.create false")
			}
			if got := dig(r.find("Deployment", "server"), "spec", "template", "spec", "serviceAccountName"); got != "corp-server" {
				t.Errorf("the server runs as %v, want corp-server", got)
			}
			if got := dig(r.find("ClusterRoleBinding", "tokenreview"), "subjects", 0, "name"); got != "corp-server" {
				t.Errorf("TokenReview is granted to %v, want corp-server", got)
			}
			if got := dig(r.find("ServiceAccount", "-webhook"), "metadata", "annotations", "team"); got != "platform" {
				t.Errorf("webhook ServiceAccount annotation %v", got)
			}
			if got := dig(r.find("DaemonSet", "agent"), "spec", "template", "spec", "affinity", "nodeAffinity"); got == nil {
				t.Error("agent.affinity was not applied")
			}
			if got := dig(r.find("Deployment", "webhook"), "spec", "template", "spec", "securityContext", "runAsUser"); got != 1000 {
				t.Errorf("webhook runAsUser %v, want 1000", got)
			}
			if got := dig(r.find("Deployment", "webhook"), "metadata", "name"); got != "podidentity-pid-webhook" {
				t.Errorf("with nameOverride the webhook is %v", got)
			}
		}},
		{"sidecar delivery without the agent", []string{"agent.enabled=false", "webhook.sidecar.enabled=true", "webhook.sidecar.namespaces={team-a,team-b}"}, func(t *testing.T, r *rendered) {
			if r.count("DaemonSet") != 0 {
				t.Error("agent.enabled=false rendered a DaemonSet")
			}
			args := strings.Join(r.containerArgs(t, "Deployment", "webhook"), " ")
			for _, want := range []string{"--sidecar-image=ghcr.io/podidentity/podidentity:", "--sidecar-port=2723", "--sidecar-namespaces=team-a,team-b"} {
				if !strings.Contains(args, want) {
					t.Errorf("webhook args %q lack %s", args, want)
				}
			}
			if c := r.config.Clusters[0]; !c.PodTokenAuth || c.TokenReview == nil {
				t.Errorf("cluster %+v: want podTokenAuth with tokenReview", c)
			}
			for _, p := range r.config.Auth.Principals {
				if strings.HasSuffix(p.ARN, "/podidentity-agent") {
					t.Error("an agent principal without an agent")
				}
			}
		}},
		{"server only", []string{"webhook.enabled=false", "agent.enabled=false"}, func(t *testing.T, r *rendered) {
			if r.count("DaemonSet")+r.count("MutatingWebhookConfiguration") != 0 || len(r.config.Auth.Principals) != 1 {
				t.Errorf("agent or webhook rendered, or principals other than the administrator: %+v", r.config.Auth.Principals)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", "podidentity", chart, "--namespace", systemNS, "--set", "clusterName=demo"}
			for _, s := range tc.set {
				if strings.HasPrefix(s, "--") {
					args = append(args, s) // a flag of helm's
					continue
				}
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			r := &rendered{objs: splitYAML(t, out)}
			if cm := r.find("ConfigMap", "server"); cm != nil {
				cfg, err := config.Parse([]byte(dig(cm, "data", "podidentity.yaml").(string)))
				if err != nil {
					t.Fatalf("the server would refuse the chart's configuration: %v", err)
				}
				r.config = cfg
			}
			tc.check(t, r)
			if out, err := c.kubectl(t, asList(t, r.objs), "apply", "--dry-run=server", "-f", "-"); err != nil {
				t.Errorf("the API server refuses the rendered chart: %v\n%s", err, out)
			}
		})
	}
}

// TestChartREADME: the chart's README is what helm-docs makes of values.yaml
// today, and every value has a description.
func TestChartREADME(t *testing.T) {
	needTools(t)
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "chart-readme.sh"), "--stdout")
	cmd.Env = append(os.Environ(), "HELM_DOCS="+tool.helmDocs)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/chart-readme.sh: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot, chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s/README.md is out of date: run hack/chart-readme.sh\n%s", chart, cmp.Diff(string(want), string(got)))
	}
	for _, line := range strings.Split(string(want), "\n") {
		if strings.HasPrefix(line, "| ") && strings.HasSuffix(line, "|  |") {
			t.Errorf("a value without a description (a \"# --\" comment in values.yaml): %s", line)
		}
	}
}

// TestPlainManifests checks that deploy/manifests/podidentity.yaml is what
// the chart renders today, and that the API server accepts it.
func TestPlainManifests(t *testing.T) {
	c := startCluster(t)
	prepareDryRun(t, c)
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "render-manifests.sh"), "--stdout")
	cmd.Env = append(os.Environ(), "HELM="+tool.helm)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/render-manifests.sh: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "manifests", "podidentity.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("deploy/manifests/podidentity.yaml is out of date: run hack/render-manifests.sh\n%s",
			cmp.Diff(string(want), string(got)))
	}
	objs := splitYAML(t, string(got))
	if objs[0]["kind"] != "Namespace" {
		t.Fatalf("the manifests do not start with their Namespace")
	}
	for _, o := range objs[1:] {
		if ns := dig(o, "metadata", "namespace"); ns != nil && ns != systemNS {
			t.Errorf("%s %v is in namespace %v", o["kind"], dig(o, "metadata", "name"), ns)
		}
	}
	if out, err := c.kubectl(t, asList(t, objs[1:]), "apply", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("the API server refuses the plain manifests: %v\n%s", err, out)
	}
}
