package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/podidentity/podidentity/internal/agent"
)

// agentFlags are `podidentity agent`'s flags: the AWS agent's `server`
// flags, short forms included, and our own.
type agentFlags struct {
	clusterName, endpoint, metricsAddress, level, logFormat string
	probeAddress                                            string
	nodeName, instanceID, zone                              string
	jwksURL, jwksFile, jwksCacheFile                        string
	port, probePort, metricsPort, maxServiceQPS             int
	maxCacheSize, maxRequestQPS                             int
	retention                                               time.Duration
	bindHosts                                               hostList
	rotateCredentials                                       bool
	// podTokenAuth is sidecar mode: no node credentials, unsigned calls.
	podTokenAuth bool
	// checkPods is --check-pods; checkPodsSet says it was given, so that
	// asking for it outside a cluster is an error, not silently off.
	checkPods, checkPodsSet bool
	verbosity               string
	fs                      *pflag.FlagSet
}

// add defines the flags on fs, the AWS agent's short forms included.
func (f *agentFlags) add(fs *pflag.FlagSet) {
	f.bindHosts = hostList{hosts: agent.DefaultBindHosts()}
	fs.StringVarP(&f.clusterName, "cluster-name", "c", "", required("name of the cluster the agent runs on"))
	fs.IntVarP(&f.port, "port", "p", agent.DefaultPort, "port of the credential endpoint (0: any free port)")
	fs.StringVar(&f.endpoint, "endpoint", "", "EKS Auth endpoint URL, e.g. a podidentity server's (default: the region's EKS Auth)")
	fs.IntVar(&f.probePort, "probe-port", agent.DefaultProbePort, "port of /healthz and /readyz")
	fs.StringVar(&f.probeAddress, "probe-address", "127.0.0.1",
		"address of /healthz and /readyz; the sidecar serves them on 0.0.0.0 because the kubelet probes the pod's IP")
	fs.BoolVar(&f.podTokenAuth, "pod-token-auth", false,
		"sidecar mode: run inside the pod without node credentials and send EKS Auth calls unsigned, authenticated by the pod's token "+
			"(needs --endpoint: a podidentity server whose cluster sets podTokenAuth); no node credentials are read, no --check-pods, "+
			"and no signing keys unless --jwks-url or --jwks-file")
	fs.StringVar(&f.metricsAddress, "metrics-address", agent.DefaultMetricsAddress, "address of the Prometheus /metrics endpoint")
	fs.IntVar(&f.metricsPort, "metrics-port", agent.DefaultMetricsPort, "port of the Prometheus /metrics endpoint")
	fs.IntVar(&f.maxServiceQPS, "max-service-qps", agent.DefaultRefreshQPS, "background refreshes per second to EKS Auth at most")
	fs.VarP(&f.bindHosts, "bind-hosts", "b", "hosts to serve credentials on, comma-separated or repeated")
	fs.IntVar(&f.maxCacheSize, "max-cache-size", agent.DefaultMaxCacheSize, "tokens whose credentials are cached at most (0 disables caching)")
	fs.DurationVar(&f.retention, "max-credential-retention-before-renewal", agent.DefaultMaxRefresh,
		"longest credentials are kept before they are refreshed (0 disables caching)")
	fs.IntVar(&f.maxRequestQPS, "max-request-qps", agent.DefaultRequestQPS,
		"pods' requests per second answered at most; more wait up to 1s for a turn, then get 429 (0: unlimited)")
	fs.StringVarP(&f.verbosity, "verbosity", "v", "info", "log level: trace, debug, info, warn, error (panic is error)")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.nodeName, "node-name", "", "this node's name, sent to EKS Auth as eksNodeName (the chart passes spec.nodeName)")
	fs.StringVar(&f.instanceID, "instance-id", "", "this node's EC2 instance id, sent to EKS Auth as instanceId (default: not sent)")
	fs.StringVar(&f.zone, "zone", "", "this node's availability zone, sent to EKS Auth as zone (default: not sent)")
	fs.StringVar(&f.jwksURL, "jwks-url", "",
		"the cluster's token signing keys, so that a pod's rotated token reuses its credentials once it verifies (default: the API server's /openid/v1/jwks when in a cluster; none: always ask EKS Auth)")
	fs.StringVar(&f.jwksFile, "jwks-file", "", "the cluster's token signing keys from a JWKS or PEM file, read again when it changes (instead of --jwks-url)")
	fs.StringVar(&f.jwksCacheFile, "jwks-cache-file", "",
		"keep the keys fetched from --jwks-url in this file (written atomically), for use while the API server is down (default: memory only)")
	fs.BoolVar(&f.rotateCredentials, "rotate-credentials", false,
		"read the node's AWS credentials from the shared credentials file (AWS_SHARED_CREDENTIALS_FILE), again whenever it changes")
	fs.BoolVar(&f.checkPods, "check-pods", true,
		"before renewing a pod's credentials in the background, ask the API server (as the agent's service account, which needs get on pods) whether the pod still exists; renew only if it does or cannot be told (default on in a cluster, off outside)")
	// Its default depends on where the agent runs, as the usage says;
	// pflag would add a flat "(default true)" beside that.
	fs.Lookup("check-pods").DefValue = "false"
	f.fs = fs
}

// parseAgentFlags parses args as the agent command does, or reports every
// problem on stderr and returns nil with the exit code.
func parseAgentFlags(args []string, stderr io.Writer) (*agentFlags, int) {
	f := &agentFlags{}
	fs := pflag.NewFlagSet("podidentity agent", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.add(fs)
	if err := fs.Parse(normalizeFlags(fs, args)); err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return nil, 2
	}
	if err := f.validate(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "podidentity agent: %v\n", err)
		return nil, 2
	}
	return f, 0
}

// validate checks the flags together, reports every problem at once, and
// settles what follows from them (sidecar mode's defaults, the log level).
func (f *agentFlags) validate(args []string) error {
	f.checkPodsSet = f.fs.Changed("check-pods")
	var problems []string
	if len(args) > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", args[0]))
	}
	if f.clusterName == "" {
		problems = append(problems, "--cluster-name is required")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--port", f.port}, {"--probe-port", f.probePort}, {"--metrics-port", f.metricsPort}} {
		if p.v < 0 || p.v > 65535 {
			problems = append(problems, fmt.Sprintf("%s %d is not a port", p.name, p.v))
		}
	}
	if f.podTokenAuth {
		if f.endpoint == "" {
			problems = append(problems, "--pod-token-auth needs --endpoint: AWS's EKS Auth accepts only signed calls")
		}
		if f.rotateCredentials {
			problems = append(problems, "--pod-token-auth and --rotate-credentials are exclusive: the sidecar has no node credentials")
		}
		if f.checkPodsSet && f.checkPods {
			problems = append(problems, "--pod-token-auth and --check-pods are exclusive: the sidecar lives and dies with its pod")
		}
		f.checkPods = false
		if f.jwksURL == "" && f.jwksFile == "" {
			// The pod's service account need not read the cluster's keys;
			// a rotated token is simply exchanged again.
			f.jwksURL = "none"
		}
	}
	if f.jwksURL != "" && f.jwksFile != "" {
		problems = append(problems, "--jwks-url and --jwks-file are exclusive")
	}
	level, ok := agent.LogLevel(f.verbosity)
	if !ok {
		problems = append(problems, fmt.Sprintf("--verbosity %q is not one of trace, debug, info, warn, error, panic", f.verbosity))
	}
	f.level = level
	if f.logFormat != "json" && f.logFormat != "text" {
		problems = append(problems, fmt.Sprintf("--log-format %q is not json or text", f.logFormat))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
