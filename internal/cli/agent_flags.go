package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
}

// parseAgentFlags parses args, or reports every problem on stderr and
// returns nil with the exit code.
func parseAgentFlags(args []string, stderr io.Writer) (*agentFlags, int) {
	f := &agentFlags{bindHosts: hostList{hosts: agent.DefaultBindHosts}}
	var verbosity string
	fs := flag.NewFlagSet("podidentity agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.clusterName, "cluster-name", "", "name of the cluster the agent runs on (required)")
	fs.StringVar(&f.clusterName, "c", "", "shorthand for --cluster-name")
	fs.IntVar(&f.port, "port", agent.DefaultPort, "port of the credential endpoint (0: any free port)")
	fs.IntVar(&f.port, "p", agent.DefaultPort, "shorthand for --port")
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
	fs.Var(&f.bindHosts, "bind-hosts", "hosts to serve credentials on, comma-separated or repeated")
	fs.Var(&f.bindHosts, "b", "shorthand for --bind-hosts")
	fs.IntVar(&f.maxCacheSize, "max-cache-size", agent.DefaultMaxCacheSize, "tokens whose credentials are cached at most (0 disables caching)")
	fs.DurationVar(&f.retention, "max-credential-retention-before-renewal", agent.DefaultMaxRefresh,
		"longest credentials are kept before they are refreshed (0 disables caching)")
	fs.IntVar(&f.maxRequestQPS, "max-request-qps", agent.DefaultRequestQPS,
		"pods' requests per second answered at most; more wait up to 1s for a turn, then get 429 (0: unlimited)")
	fs.StringVar(&verbosity, "verbosity", "info", "log level: trace, debug, info, warn, error (panic is error)")
	fs.StringVar(&verbosity, "v", "info", "shorthand for --verbosity")
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
	if err := fs.Parse(joinBoolValues(args, "rotate-credentials", "check-pods", "pod-token-auth")); err != nil {
		return nil, 2
	}
	fs.Visit(func(fl *flag.Flag) { f.checkPodsSet = f.checkPodsSet || fl.Name == "check-pods" })
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
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
	level, ok := logLevels[strings.ToLower(verbosity)]
	if !ok {
		problems = append(problems, fmt.Sprintf("--verbosity %q is not one of trace, debug, info, warn, error, panic", verbosity))
	}
	f.level = level
	if f.logFormat != "json" && f.logFormat != "text" {
		problems = append(problems, fmt.Sprintf("--log-format %q is not json or text", f.logFormat))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "podidentity agent: %s\n", strings.Join(problems, "; "))
		return nil, 2
	}
	return f, 0
}

// joinBoolValues turns `--name true` into `--name=true` for the boolean
// flags named. The AWS agent's charts pass its flags as key/value pairs
// (`"--rotate-credentials", "true"`); its flag parser (pflag) leaves the
// "true" over as an argument it then ignores, Go's flag package would stop
// at it. Only a value that parses as a boolean is taken.
func joinBoolValues(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		isBool := false
		for _, n := range names {
			isBool = isBool || (name == n && len(a)-len(name) <= 2 && len(a) > len(name))
		}
		if isBool && i+1 < len(args) {
			if _, err := strconv.ParseBool(args[i+1]); err == nil {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}
