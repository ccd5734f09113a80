package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/agent"
	pconfig "github.com/podidentity/podidentity/internal/config"
)

func newAgentCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := newAgentServeCommand("agent", stdout, stderr)
	server := newAgentServeCommand("server", stdout, stderr)
	server.Short = "The AWS agent's spelling of `podidentity agent`, so that a DaemonSet's args carry over unchanged"
	server.Example = "  podidentity agent server --cluster-name my-cluster --port 80 --probe-port 2703"
	cmd.AddCommand(server, newAgentInitializeCommand(stdout, stderr))
	return cmd
}

// newAgentServeCommand is `podidentity agent`, a drop-in for
// aws/eks-pod-identity-agent `server`: the same flags (short forms
// included), endpoints and answers.
func newAgentServeCommand(use string, stdout, stderr io.Writer) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Serve pods' credentials on the node, as the EKS Pod Identity Agent does",
		Long: `Serve pods' credentials on the node: a drop-in for aws/eks-pod-identity-agent
(its flags, short forms included, endpoints and answers), exchanging each pod's
token with EKS Auth, or a podidentity server, and caching the credentials.`,
		Example: `  podidentity agent --cluster-name my-cluster --endpoint http://podidentity-server.podidentity-system.svc:8080
  podidentity agent -c my-cluster --bind-hosts 127.0.0.1 --port 2780 --rotate-credentials true -v debug`,
		Args: cobra.ArbitraryArgs, // validate names a stray argument with the other problems
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(args); err != nil {
				fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
				return exit(2)
			}
			return exit(runAgent(cmd.Context(), f, stdout, stderr))
		},
	}
	f.add(cmd.Flags())
	return cmd
}

// runAgent wires the agent from its flags and serves until ctx ends.
func runAgent(ctx context.Context, f *agentFlags, stdout, stderr io.Writer) int {
	log := newLogger(pconfig.Log{Level: f.level, Format: f.logFormat}, stderr)
	cfg, err := agentConfig(ctx, f, log)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	a, err := agent.New(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	defer a.Close()
	for _, u := range a.CredentialURLs() {
		fmt.Fprintf(stdout, "podidentity agent serving credentials on %s\n", u)
	}
	fmt.Fprintf(stdout, "podidentity agent probes on %s (/healthz, /readyz)\n", a.ProbeURL())
	fmt.Fprintf(stdout, "podidentity agent metrics on %s\n", a.MetricsURL())
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	return 0
}

// agentConfig is the agent's Config from its flags: the node's AWS
// configuration, the keys that verify pods' tokens, who to ask whether a
// pod still exists. It logs what it chose and why.
func agentConfig(ctx context.Context, f *agentFlags, log *slog.Logger) (agent.Config, error) {
	awsCfg, err := agentAWSConfig(ctx, f, log)
	if err != nil {
		return agent.Config{}, err
	}
	verifier, keysFrom, err := agentKeys(f, log)
	if err != nil {
		return agent.Config{}, err
	}
	pods, podsFrom, err := agentPods(f)
	if err != nil {
		return agent.Config{}, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := agent.Config{
		Verifier: verifier,
		Pods:     pods,
		Upstream: agent.NewEKSAuth(agent.EKSAuthConfig{AWS: awsCfg, ClusterName: f.clusterName, Endpoint: f.endpoint,
			NodeName: f.nodeName, InstanceID: f.instanceID, Zone: f.zone, Unsigned: f.podTokenAuth}),
		BindHosts:   f.bindHosts.hosts,
		ProbeAddr:   net.JoinHostPort(strings.Trim(f.probeAddress, "[]"), strconv.Itoa(f.probePort)),
		MetricsAddr: net.JoinHostPort(strings.Trim(f.metricsAddress, "[]"), strconv.Itoa(f.metricsPort)),
		Logger:      log,
		Registry:    reg,
	}
	agent.AWSAgentFlags{Port: f.port, MaxCacheSize: f.maxCacheSize, Retention: f.retention,
		MaxServiceQPS: f.maxServiceQPS, MaxRequestQPS: f.maxRequestQPS}.Apply(&cfg)
	if awsCfg.Credentials != nil && !f.podTokenAuth {
		cfg.CheckCredentials = func(ctx context.Context) error {
			_, err := awsCfg.Credentials.Retrieve(ctx)
			return err
		}
	}
	if f.endpoint != "" {
		cfg.CheckUpstream = serverReachable(f.endpoint)
	}
	log.Info("agent starting", "cluster", f.clusterName, "region", awsCfg.Region, "endpoint", endpointLabel(f.endpoint),
		"max_cache_size", f.maxCacheSize, "max_refresh", f.retention, "max_service_qps", f.maxServiceQPS,
		"max_request_qps", f.maxRequestQPS, "rotate_credentials", f.rotateCredentials, "node", f.nodeName,
		"instance_id", f.instanceID, "zone", f.zone, "token_keys", keysFrom, "check_pods", podsFrom, "pod_token_auth", f.podTokenAuth,
		"version", version())
	return cfg, nil
}

// agentAWSConfig is the node's AWS configuration. The sidecar has none to
// load: its calls are unsigned, and asking IMDS for a region from inside a
// pod would only delay its start.
func agentAWSConfig(ctx context.Context, f *agentFlags, log *slog.Logger) (aws.Config, error) {
	if f.podTokenAuth {
		return aws.Config{Region: os.Getenv("AWS_REGION"), Credentials: aws.AnonymousCredentials{}}, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion())
	if err != nil {
		return cfg, fmt.Errorf("loading the node's AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: set AWS_REGION (EKS Auth is regional)")
	}
	if f.rotateCredentials {
		// As the AWS agent: the node's credentials come from the shared
		// credentials file alone, read again whenever it changes. Set here,
		// not as a LoadDefaultConfig option, which would wrap it in a cache
		// that never looks again at credentials without an expiry.
		path := agent.DefaultSharedCredentialsFile()
		cfg.Credentials = agent.NewSharedCredentialsFile(path, os.Getenv("AWS_PROFILE"), log)
		log.Info("node credentials are read from the shared credentials file whenever it changes", "file", path)
	}
	return cfg, nil
}

func endpointLabel(e string) string {
	if e == "" {
		return "(the region's EKS Auth)"
	}
	return e
}

// hostList is --bind-hosts: comma-separated, repeatable (the AWS agent
// repeats it); the first use replaces the default.
type hostList struct {
	hosts []string
	set   bool
}

func (h *hostList) String() string {
	if h == nil {
		return ""
	}
	return strings.Join(h.hosts, ",")
}

// Type names the value in help, as pflag's own list flags do.
func (h *hostList) Type() string { return "strings" }

func (h *hostList) Set(v string) error {
	if !h.set {
		h.hosts, h.set = nil, true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			h.hosts = append(h.hosts, s)
		}
	}
	if len(h.hosts) == 0 {
		return errors.New("no host given")
	}
	return nil
}
