package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
	fs := flag.NewFlagSet("podidentity agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		clusterName, endpoint, metricsAddress, verbosity, logFormat string
		nodeName                                                    string
		port, probePort, metricsPort, maxServiceQPS, maxCacheSize   int
		maxRequestQPS                                               int
		retention                                                   time.Duration
		bindHosts                                                   = hostList{hosts: agent.DefaultBindHosts}
	)
	fs.StringVar(&clusterName, "cluster-name", "", "name of the cluster the agent runs on (required)")
	fs.StringVar(&clusterName, "c", "", "shorthand for --cluster-name")
	fs.IntVar(&port, "port", agent.DefaultPort, "port of the credential endpoint (0: any free port)")
	fs.IntVar(&port, "p", agent.DefaultPort, "shorthand for --port")
	fs.StringVar(&endpoint, "endpoint", "", "EKS Auth endpoint URL, e.g. a podidentity server's (default: the region's EKS Auth)")
	fs.IntVar(&probePort, "probe-port", agent.DefaultProbePort, "port of /healthz and /readyz on 127.0.0.1")
	fs.StringVar(&metricsAddress, "metrics-address", agent.DefaultMetricsAddress, "address of the Prometheus /metrics endpoint")
	fs.IntVar(&metricsPort, "metrics-port", agent.DefaultMetricsPort, "port of the Prometheus /metrics endpoint")
	fs.IntVar(&maxServiceQPS, "max-service-qps", agent.DefaultRefreshQPS, "background refreshes per second to EKS Auth at most")
	fs.Var(&bindHosts, "bind-hosts", "hosts to serve credentials on, comma-separated or repeated")
	fs.Var(&bindHosts, "b", "shorthand for --bind-hosts")
	fs.IntVar(&maxCacheSize, "max-cache-size", agent.DefaultMaxCacheSize, "tokens whose credentials are cached at most (0 disables caching)")
	fs.DurationVar(&retention, "max-credential-retention-before-renewal", agent.DefaultMaxRefresh,
		"longest credentials are kept before they are refreshed (0 disables caching)")
	fs.IntVar(&maxRequestQPS, "max-request-qps", agent.DefaultRequestQPS,
		"pods' requests per second answered at most; more wait up to 1s for a turn, then get 429 (0: unlimited)")
	fs.StringVar(&verbosity, "verbosity", "info", "log level: trace, debug, info, warn, error (panic is error)")
	fs.StringVar(&verbosity, "v", "info", "shorthand for --verbosity")
	fs.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&nodeName, "node-name", "", "this node's name, sent to EKS Auth as eksNodeName (the chart passes spec.nodeName)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if clusterName == "" {
		problems = append(problems, "--cluster-name is required")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--port", port}, {"--probe-port", probePort}, {"--metrics-port", metricsPort}} {
		if p.v < 0 || p.v > 65535 {
			problems = append(problems, fmt.Sprintf("%s %d is not a port", p.name, p.v))
		}
	}
	level, ok := logLevels[strings.ToLower(verbosity)]
	if !ok {
		problems = append(problems, fmt.Sprintf("--verbosity %q is not one of trace, debug, info, warn, error, panic", verbosity))
	}
	if logFormat != "json" && logFormat != "text" {
		problems = append(problems, fmt.Sprintf("--log-format %q is not json or text", logFormat))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "podidentity agent: %s\n", strings.Join(problems, "; "))
		return 2
	}
	log := newLogger(pconfig.Log{Level: level, Format: logFormat}, stderr)

	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion())
	if err != nil {
		fmt.Fprintf(stderr, "podidentity agent: loading the node's AWS configuration: %v\n", err)
		return 1
	}
	if awsCfg.Region == "" {
		fmt.Fprintln(stderr, "podidentity agent: no AWS region: set AWS_REGION (EKS Auth is regional)")
		return 1
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cfg := agent.Config{
		Upstream:     agent.NewEKSAuth(agent.EKSAuthConfig{AWS: awsCfg, ClusterName: clusterName, Endpoint: endpoint, NodeName: nodeName}),
		BindHosts:    bindHosts.hosts,
		Port:         anyPortIfZero(port),
		ProbeAddr:    "127.0.0.1:" + strconv.Itoa(probePort),
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
	if awsCfg.Credentials == nil {
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
		"max_request_qps", maxRequestQPS, "version", version())
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return 1
	}
	return 0
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
