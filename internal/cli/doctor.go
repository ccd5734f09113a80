package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/doctor"
)

type doctorOptions struct {
	target                               doctor.Target
	endpoint, kubeconfig, region, output string
	timeout                              time.Duration
}

func newDoctorCommand(stdout, stderr io.Writer) *cobra.Command {
	var o doctorOptions
	t := &o.target
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Tell why a pod gets no AWS credentials",
		Long: `Check, one by one, what a pod needs to get credentials from EKS Pod Identity:
its service account's association, the webhook's mutation, the token, the
node agent and the server's answer. Exit 0 when every check holds, 1 when one
does not, 2 when it was asked wrongly.`,
		Example: `  podidentity doctor --namespace shop --pod cart-7d9f --endpoint http://podidentity-server.podidentity-system.svc:8080`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runDoctor(cmd.Context(), o, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&t.Namespace, "namespace", "", required("the pod's or service account's namespace"))
	fs.StringVar(&t.Pod, "pod", "", "the pod that gets no credentials (this or --service-account)")
	fs.StringVar(&t.ServiceAccount, "service-account", "", "the service account, when there is no pod to name")
	fs.StringVar(&o.endpoint, "endpoint", "", required("URL of the podidentity server (the chart's NOTES print it)"))
	fs.StringVar(&t.Cluster, "cluster-name", "", "the cluster's name in the podidentity server (default: the kubeconfig's name for it)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&o.region, "region", "", "region to sign requests to the server for (default: the AWS SDK's, e.g. AWS_REGION)")
	fs.StringVar(&t.AgentURL, "agent-url", "", "a node agent's health URL to probe, e.g. http://NODE:2703/readyz (no token is sent)")
	fs.StringVar(&o.output, "output", "text", "text or json")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on the whole diagnosis")
	return cmd
}

// runDoctor is `podidentity doctor`.
func runDoctor(ctx context.Context, o doctorOptions, stdout, stderr io.Writer) int {
	t := o.target
	var problems []error
	if t.Namespace == "" {
		problems = append(problems, errors.New("--namespace is required"))
	}
	if (t.Pod == "") == (t.ServiceAccount == "") {
		problems = append(problems, errors.New("give exactly one of --pod and --service-account"))
	}
	if u, err := url.Parse(o.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Errorf("--endpoint %q must be the podidentity server's URL", o.endpoint))
	}
	if o.output != "text" && o.output != "json" {
		problems = append(problems, fmt.Errorf("--output %q must be text or json", o.output))
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: %v\n", err)
		return 2
	}

	kube, err := loadKubeconfig(kubeconfigPath(o.kubeconfig))
	if err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: %v\n", err)
		return 2
	}
	if t.Cluster == "" {
		t.Cluster = kube.ClusterName
	}
	var opts []func(*awsconfig.LoadOptions) error
	if o.region != "" {
		opts = append(opts, awsconfig.WithRegion(o.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: loading AWS SDK configuration: %v\n", err)
		return 2
	}
	if cfg.Region == "" {
		fmt.Fprintln(stderr, "podidentity doctor: no region to sign requests for: set --region or AWS_REGION")
		return 2
	}
	var agent doctor.Agent
	if t.AgentURL != "" {
		agent = httpAgent{url: t.AgentURL, client: &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	}

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	report := doctor.Run(ctx, t, newDoctorServer(cfg, strings.TrimRight(o.endpoint, "/")), kube, agent)
	if o.output == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: %v\n", err)
		return 1
	}
	if !report.OK() {
		return 1
	}
	return 0
}
