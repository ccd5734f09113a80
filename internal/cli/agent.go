package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/podidentity/podidentity/internal/agent"
	pconfig "github.com/podidentity/podidentity/internal/config"
)

// runAgent is `podidentity agent`, a drop-in for aws/eks-pod-identity-agent
// `server`: the same flags (short forms included), endpoints and answers.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The AWS agent's command line is `eks-pod-identity-agent server ...`;
	// accept the word so that a DaemonSet's args carry over unchanged.
	if len(args) > 0 && args[0] == "server" {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "initialize" {
		return runAgentInitialize(args[1:], stdout, stderr)
	}
	f, code := parseAgentFlags(args, stderr)
	if f == nil {
		return code
	}
	clusterName, endpoint, metricsAddress := f.clusterName, f.endpoint, f.metricsAddress
	port, probePort, metricsPort, maxServiceQPS := f.port, f.probePort, f.metricsPort, f.maxServiceQPS
	maxCacheSize, maxRequestQPS, retention, level := f.maxCacheSize, f.maxRequestQPS, f.retention, f.level
	logFormat := f.logFormat
	log := newLogger(pconfig.Log{Level: level, Format: logFormat}, stderr)

	awsCfg, err := agentAWSConfig(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: loading the node's AWS configuration: %v\n", err)
		return 1
	}
	if f.rotateCredentials {
		// As the AWS agent: the node's credentials come from the shared
		// credentials file alone, read again whenever it changes. Set here,
		// not as a LoadDefaultConfig option, which would wrap it in a cache
		// that never looks again at credentials without an expiry.
		path := agent.DefaultSharedCredentialsFile()
		awsCfg.Credentials = agent.NewSharedCredentialsFile(path, os.Getenv("AWS_PROFILE"), log)
		log.Info("node credentials are read from the shared credentials file whenever it changes", "file", path)
	}
	if awsCfg.Region == "" && !f.podTokenAuth {
		fmt.Fprintln(stderr, "podidentity agent: no AWS region: set AWS_REGION (EKS Auth is regional)")
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	verifier, keysFrom, err := agentKeys(f, log)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	pods, podsFrom, err := agentPods(f)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	cfg := agent.Config{
		Verifier: verifier,
		Pods:     pods,
		Upstream: agent.NewEKSAuth(agent.EKSAuthConfig{AWS: awsCfg, ClusterName: clusterName, Endpoint: endpoint,
			NodeName: f.nodeName, InstanceID: f.instanceID, Zone: f.zone, Unsigned: f.podTokenAuth}),
		BindHosts:    f.bindHosts.hosts,
		Port:         anyPortIfZero(port),
		ProbeAddr:    joinHostPort(f.probeAddress, probePort),
		MetricsAddr:  joinHostPort(metricsAddress, metricsPort),
		MaxCacheSize: maxCacheSize,
		MaxRefresh:   retention,
		RefreshQPS:   float64(maxServiceQPS),
		RequestQPS:   float64(maxRequestQPS),
		CheckCredentials: func(ctx context.Context) error {
			_, err := awsCfg.Credentials.Retrieve(ctx)
			return err
		},
		Logger:   log,
		Registry: reg,
	}
	// The AWS agent's 0 means "no caching"; ours means "the default".
	if maxCacheSize <= 0 || retention <= 0 {
		cfg.MaxCacheSize, cfg.MaxRefresh = -1, -1
	}
	if maxRequestQPS <= 0 {
		cfg.RequestQPS = -1
	}
	if awsCfg.Credentials == nil || f.podTokenAuth {
		cfg.CheckCredentials = nil
	}
	if endpoint != "" {
		cfg.CheckUpstream = serverReachable(endpoint)
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
	log.Info("agent starting", "cluster", clusterName, "region", awsCfg.Region, "endpoint", endpointLabel(endpoint),
		"max_cache_size", maxCacheSize, "max_refresh", retention, "max_service_qps", maxServiceQPS,
		"max_request_qps", maxRequestQPS, "rotate_credentials", f.rotateCredentials, "node", f.nodeName,
		"instance_id", f.instanceID, "zone", f.zone, "token_keys", keysFrom, "check_pods", podsFrom, "pod_token_auth", f.podTokenAuth,
		"version", version())
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	return 0
}

// agentAWSConfig is the node's AWS configuration. The sidecar has none to
// load: its calls are unsigned, and asking IMDS for a region from inside a
// pod would only delay its start.
func agentAWSConfig(ctx context.Context, f *agentFlags) (aws.Config, error) {
	if f.podTokenAuth {
		return aws.Config{Region: os.Getenv("AWS_REGION"), Credentials: aws.AnonymousCredentials{}}, nil
	}
	return config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion())
}

// logLevels maps the AWS agent's verbosity names (logrus) onto ours.
var logLevels = map[string]string{
	"trace": "debug", "debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
	"error": "error", "fatal": "error", "panic": "error",
}

func anyPortIfZero(p int) int {
	if p == 0 {
		return -1
	}
	return p
}

func joinHostPort(host string, port int) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
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
