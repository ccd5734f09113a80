package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/webhook"
)

// WebhookConfig is the runtime configuration of `podidentity webhook`.
type WebhookConfig struct {
	CertFile, KeyFile string
	Listen            string // host:port
	Endpoint          string // the podidentity server's EKS API
	ClusterName       string
	Region            string // to sign requests for; empty: the SDK's
	Options           webhook.Options
	CacheTTL          time.Duration
	NegativeCacheTTL  time.Duration
	LookupTimeout     time.Duration
	FailClosed        bool
	Log               config.Log
}

// webhookFlags are the flags that are not WebhookConfig's fields as they are.
type webhookFlags struct {
	port, sidecarPort int
	bind, ipFamily    string
	sidecarImage      string
	sidecarNamespaces hostList
}

func newWebhookCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		c WebhookConfig
		w webhookFlags
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the admission webhook that gives pods their credentials' variables and token",
		Long: `Serve the mutating admission webhook: a pod whose service account has an
association gets the EKS Pod Identity variables and projected token, as EKS
gives them (or a sidecar agent, when asked).`,
		Example: `  podidentity webhook --tls-cert-file tls.crt --tls-key-file tls.key \
      --endpoint http://podidentity-server.podidentity-system.svc:8080 --cluster-name my-cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runWebhook(cmd.Context(), c, w, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.CertFile, "tls-cert-file", "", required("PEM certificate to serve (reloaded when it changes)"))
	fs.StringVar(&c.KeyFile, "tls-key-file", "", required("PEM private key of the certificate (reloaded when it changes)"))
	fs.IntVar(&w.port, "port", 9443, "HTTPS port")
	fs.StringVar(&w.bind, "bind-address", "", "address to listen on (default: all)")
	fs.StringVar(&c.Endpoint, "endpoint", "", required("URL of the podidentity server, asked whether a service account has an association"))
	fs.StringVar(&c.ClusterName, "cluster-name", "", required("this cluster's name in the podidentity server"))
	fs.StringVar(&c.Region, "region", "", "region to sign requests to the server for (default: the AWS SDK's, e.g. AWS_REGION)")
	fs.StringVar(&w.ipFamily, "ip-family", "ipv4", "ipv4 or ipv6: which address of the node agent pods are given")
	fs.StringVar(&c.Options.CredentialsURI, "credentials-uri", "", "AWS_CONTAINER_CREDENTIALS_FULL_URI to inject, overriding --ip-family")
	fs.Int64Var(&c.Options.TokenExpiration, "token-expiration", webhook.DefaultTokenExpiration, "expirationSeconds of the token, unless the pod's eks.amazonaws.com/token-expiration says otherwise")
	fs.StringVar(&w.sidecarImage, "sidecar-image", "",
		"image of the sidecar agent (podidentity's own; the chart passes it); enables sidecar delivery for pods annotated "+webhook.AnnotationDelivery+": sidecar")
	fs.IntVar(&w.sidecarPort, "sidecar-port", webhook.DefaultSidecarPort, "sidecar's credential port on 127.0.0.1; port+1 serves its probes, port+2 its metrics")
	fs.Var(&w.sidecarNamespaces, "sidecar-namespaces", "namespaces whose pods all get the sidecar, comma-separated (a pod may opt out with "+webhook.AnnotationDelivery+": node)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", 10*time.Second, "how long an association found is remembered")
	fs.DurationVar(&c.NegativeCacheTTL, "negative-cache-ttl", 2*time.Second, "how long the absence of an association is remembered")
	fs.DurationVar(&c.LookupTimeout, "lookup-timeout", 5*time.Second, "bound on one association lookup; keep it below the webhook's timeoutSeconds")
	fs.BoolVar(&c.FailClosed, "fail-closed", false, "refuse pod creation when the server cannot be asked (default: admit the pod without credentials, with a warning)")
	fs.StringVar(&c.Log.Level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.Log.Format, "log-format", "json", "json or text")
	return cmd
}

func runWebhook(ctx context.Context, c WebhookConfig, w webhookFlags, stdout, stderr io.Writer) int {
	var problems []error
	switch w.ipFamily {
	case "ipv4":
		if c.Options.CredentialsURI == "" {
			c.Options.CredentialsURI = webhook.CredentialsURIIPv4
		}
	case "ipv6":
		if c.Options.CredentialsURI == "" {
			c.Options.CredentialsURI = webhook.CredentialsURIIPv6
		}
	default:
		problems = append(problems, fmt.Errorf("--ip-family %q must be ipv4 or ipv6", w.ipFamily))
	}
	if w.sidecarImage != "" {
		c.Options.Sidecar = &webhook.SidecarOptions{Image: w.sidecarImage, ClusterName: c.ClusterName, Endpoint: c.Endpoint,
			Port: w.sidecarPort, Namespaces: w.sidecarNamespaces.hosts}
	} else if len(w.sidecarNamespaces.hosts) > 0 {
		problems = append(problems, errors.New("--sidecar-namespaces needs --sidecar-image"))
	}
	if w.port < 0 || w.port > 65535 {
		problems = append(problems, fmt.Errorf("--port %d is not a port", w.port))
	}
	c.Listen = net.JoinHostPort(w.bind, strconv.Itoa(w.port))
	if err := errors.Join(append(problems, c.validate())...); err != nil {
		fmt.Fprintf(stderr, "podidentity webhook: %v\n", err)
		return 2
	}
	p, err := NewWebhookProgram(ctx, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity webhook: %v\n", err)
		return 1
	}
	defer p.Close()
	if err := p.Run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "podidentity webhook: %v\n", err)
		return 1
	}
	return 0
}

// validate reports every problem at once.
func (c WebhookConfig) validate() error {
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file are required: the API server only calls webhooks over HTTPS"))
	}
	if u, err := url.Parse(c.Endpoint); c.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--endpoint %q must be the podidentity server's URL, e.g. http://podidentity.podidentity-system:8080", c.Endpoint))
	}
	if c.ClusterName == "" {
		errs = append(errs, errors.New("--cluster-name is required"))
	}
	if err := c.Options.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.LookupTimeout <= 0 {
		errs = append(errs, errors.New("--lookup-timeout must be positive"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q must be debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q must be json or text", c.Log.Format))
	}
	return errors.Join(errs...)
}

// WebhookProgram is a running admission webhook. Tests start it on
// 127.0.0.1:0.
type WebhookProgram struct {
	cfg   WebhookConfig
	log   *slog.Logger
	ln    net.Listener
	http  *http.Server
	ready *onceReady
}

// NewWebhookProgram loads the certificate, sets up the association lookup
// and binds the listener, so that mistakes surface before Run.
func NewWebhookProgram(ctx context.Context, c WebhookConfig, logOut io.Writer) (*WebhookProgram, error) {
	log := newLogger(c.Log, logOut)
	certs, err := webhook.NewCertReloader(c.CertFile, c.KeyFile, nil, log)
	if err != nil {
		return nil, err
	}
	lookup, err := newEKSAssociations(ctx, c, log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := webhook.NewHandler(webhook.Config{
		Options:       c.Options,
		Associations:  webhook.NewCache(lookup, c.CacheTTL, c.NegativeCacheTTL, nil),
		FailClosed:    c.FailClosed,
		LookupTimeout: c.LookupTimeout,
		Logger:        log,
		Registry:      reg,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/mutate", h)
	ok := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	// Ready once the server has answered: until then every pod would be
	// admitted without credentials.
	ready := &onceReady{}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := ready.why(); why != "" {
			http.Error(w, why+"\n", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	// Prometheus scrapes over the same TLS port (scheme https).
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", c.Listen, err)
	}
	return &WebhookProgram{
		cfg:   c,
		log:   log,
		ln:    ln,
		ready: ready,
		http: &http.Server{
			Handler: mux,
			TLSConfig: &tls.Config{
				MinVersion:     tls.VersionTLS12,
				GetCertificate: certs.GetCertificate,
			},
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Addr is the address the webhook listens on.
func (p *WebhookProgram) Addr() string { return p.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (p *WebhookProgram) Run(ctx context.Context, stdout io.Writer) error {
	go p.ready.run(ctx, "the podidentity server cannot be reached", serverReachable(p.cfg.Endpoint), p.log)
	fmt.Fprintf(stdout, "podidentity webhook listening on https://%s (cluster %s, server %s)\n", p.Addr(), p.cfg.ClusterName, p.cfg.Endpoint)
	return serveUntilDone(ctx, p.http, p.log, func() error { return p.http.ServeTLS(p.ln, "", "") })
}

// Close releases the listener.
func (p *WebhookProgram) Close() error { return p.http.Close() }

// eksAssociations asks the podidentity server, with the credentials of
// the AWS SDK's default chain, which association applies to a service
// account: the webhook holds no database and no Kubernetes credentials of
// its own. It calls ResolvePodIdentityAssociation (docs/patterns.md), not
// ListPodIdentityAssociations, whose filters are literal as on AWS: a
// pattern association must mutate the pods it matches. A server from
// before that operation (during a rolling upgrade) is asked through
// ListPodIdentityAssociations instead: it has no pattern associations.
type eksAssociations struct {
	endpoint string
	cluster  string
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	client   *http.Client
	// list is the fallback for servers without
	// ResolvePodIdentityAssociation.
	list       *eks.Client
	log        *slog.Logger
	oldServer  sync.Once
	retryPause time.Duration
}

func newEKSAssociations(ctx context.Context, c WebhookConfig, log *slog.Logger) (*eksAssociations, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	// A lookup must end within LookupTimeout; one retry is all that fits.
	opts = append(opts, awsconfig.WithRetryMaxAttempts(2))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS SDK configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no region to sign requests for: set --region or AWS_REGION")
	}
	// Find out now, not at the first pod, if there are no credentials.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if creds, err := cfg.Credentials.Retrieve(cctx); err != nil {
		log.Warn("no AWS credentials found for signing requests to the server yet; lookups will fail until there are", "err", err)
	} else {
		log.Info("signing requests to the server", "access_key_id", creds.AccessKeyID, "source", creds.Source, "region", cfg.Region)
	}
	return &eksAssociations{
		endpoint: strings.TrimRight(c.Endpoint, "/"),
		cluster:  c.ClusterName,
		region:   cfg.Region,
		creds:    cfg.Credentials,
		signer:   v4.NewSigner(),
		// Each lookup is bounded by --lookup-timeout through its context.
		client: &http.Client{},
		list: eks.NewFromConfig(cfg, func(o *eks.Options) {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}),
		log:        log,
		retryPause: 100 * time.Millisecond,
	}, nil
}

// emptyPayloadHash is the SHA-256 of an empty body, which a GET signs.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// errUnknownOperation: the server predates ResolvePodIdentityAssociation.
var errUnknownOperation = errors.New("the server does not know ResolvePodIdentityAssociation")

func (a *eksAssociations) HasAssociation(ctx context.Context, namespace, serviceAccount string) (bool, error) {
	where := fmt.Sprintf("service account %s/%s in cluster %s", namespace, serviceAccount, a.cluster)
	has, retry, err := a.resolve(ctx, namespace, serviceAccount, where)
	if retry {
		// The AWS SDKs retry a failed call once within this budget too;
		// a server replica restarting must not fail (or, with
		// --fail-closed, refuse) the pods created meanwhile.
		t := time.NewTimer(a.retryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, err
		case <-t.C:
		}
		has, _, err = a.resolve(ctx, namespace, serviceAccount, where)
	}
	if errors.Is(err, errUnknownOperation) {
		// An older server, during a rolling upgrade: refusing every pod
		// until it is replaced would be an outage of our making.
		a.oldServer.Do(func() {
			a.log.Warn("the podidentity server does not know ResolvePodIdentityAssociation (older than this webhook); asking ListPodIdentityAssociations until it does, which sees no pattern associations", "endpoint", a.endpoint)
		})
		return a.listed(ctx, namespace, serviceAccount, where)
	}
	return has, err
}

// resolve asks ResolvePodIdentityAssociation once; retry reports whether
// the failure is one worth a second attempt (a network error, a 5xx, a
// throttle), as the AWS SDKs judge it.
func (a *eksAssociations) resolve(ctx context.Context, namespace, serviceAccount, where string) (has, retry bool, err error) {
	u := a.endpoint + "/clusters/" + url.PathEscape(a.cluster) + "/resolve-pod-identity-association?" +
		url.Values{"namespace": {namespace}, "serviceAccount": {serviceAccount}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, false, err
	}
	creds, err := a.creds.Retrieve(ctx)
	if err != nil {
		return false, false, fmt.Errorf("resolving the association of %s: no AWS credentials: %w", where, err)
	}
	if err := a.signer.SignHTTP(ctx, creds, req, emptyPayloadHash, "eks", a.region, time.Now()); err != nil {
		return false, false, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return false, ctx.Err() == nil, fmt.Errorf("resolving the association of %s: %w", where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return true, false, nil
	}
	var e struct{ Message string }
	json.Unmarshal(body, &e)
	errType := resp.Header.Get("X-Amzn-ErrorType")
	switch {
	// Not found is an answer, unless it is the cluster that is missing:
	// that is a misconfigured --cluster-name, to be reported.
	case resp.StatusCode == http.StatusNotFound && errType == "ResourceNotFoundException" && !strings.HasPrefix(e.Message, "No cluster found"):
		return false, false, nil
	case errType == "UnknownOperationException":
		return false, false, fmt.Errorf("resolving the association of %s: %w", where, errUnknownOperation)
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	return false, retry, fmt.Errorf("resolving the association of %s: %s %s: %s", where, resp.Status, errType, e.Message)
}

// listed asks ListPodIdentityAssociations, whose filters match exactly:
// right for a server without pattern associations.
func (a *eksAssociations) listed(ctx context.Context, namespace, serviceAccount, where string) (bool, error) {
	out, err := a.list.ListPodIdentityAssociations(ctx, &eks.ListPodIdentityAssociationsInput{
		ClusterName:    aws.String(a.cluster),
		Namespace:      aws.String(namespace),
		ServiceAccount: aws.String(serviceAccount),
	})
	if err != nil {
		return false, fmt.Errorf("listing the associations of %s: %w", where, err)
	}
	for _, s := range out.Associations {
		if aws.ToString(s.Namespace) == namespace && aws.ToString(s.ServiceAccount) == serviceAccount {
			return true, nil
		}
	}
	return false, nil
}
