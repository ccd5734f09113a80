package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/podidentity/podidentity/internal/doctor"
)

// runDoctor is `podidentity doctor`: exit 0 when every check holds, 1
// when one does not, 2 when it was asked wrongly.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var t doctor.Target
	fs.StringVar(&t.Namespace, "namespace", "", "the pod's or service account's namespace")
	fs.StringVar(&t.Pod, "pod", "", "the pod that gets no credentials")
	fs.StringVar(&t.ServiceAccount, "service-account", "", "the service account, when there is no pod to name")
	endpoint := fs.String("endpoint", "", "URL of the podidentity server (the chart's NOTES print it)")
	fs.StringVar(&t.Cluster, "cluster-name", "", "the cluster's name in the podidentity server (default: the kubeconfig's name for it)")
	kubeconfigFlag := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	region := fs.String("region", "", "region to sign requests to the server for (default: the AWS SDK's, e.g. AWS_REGION)")
	fs.StringVar(&t.AgentURL, "agent-url", "", "a node agent's health URL to probe, e.g. http://NODE:2703/readyz (no token is sent)")
	output := fs.String("output", "text", "text or json")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole diagnosis")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var problems []error
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if t.Namespace == "" {
		problems = append(problems, errors.New("--namespace is required"))
	}
	if (t.Pod == "") == (t.ServiceAccount == "") {
		problems = append(problems, errors.New("give exactly one of --pod and --service-account"))
	}
	if u, err := url.Parse(*endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Errorf("--endpoint %q must be the podidentity server's URL", *endpoint))
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Errorf("--output %q must be text or json", *output))
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: %v\n", err)
		return 2
	}

	kube, err := loadKubeconfig(kubeconfigPath(*kubeconfigFlag))
	if err != nil {
		fmt.Fprintf(stderr, "podidentity doctor: %v\n", err)
		return 2
	}
	if t.Cluster == "" {
		t.Cluster = kube.ClusterName
	}
	var opts []func(*awsconfig.LoadOptions) error
	if *region != "" {
		opts = append(opts, awsconfig.WithRegion(*region))
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

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	report := doctor.Run(ctx, t, newDoctorServer(cfg, strings.TrimRight(*endpoint, "/")), kube, agent)
	if *output == "json" {
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
