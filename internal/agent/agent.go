package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults, the AWS agent's where it has one.
const (
	DefaultPort           = 80
	DefaultProbePort      = 2703
	DefaultMetricsAddress = "0.0.0.0"
	DefaultMetricsPort    = 2705
	DefaultRefreshQPS     = 3
	DefaultMaxCacheSize   = 2000
	DefaultMaxRefresh     = 3 * time.Hour
	DefaultRequestQPS     = 1000
	DefaultRequestBurst   = 500
)

// DefaultBindHosts returns the addresses EKS points pods at, a new slice
// each time: a caller that appends to or edits it changes only its own.
func DefaultBindHosts() []string { return []string{"169.254.170.23", "fd00:ec2::23"} }

// Config is what the agent needs. Zero values take the defaults above.
type Config struct {
	Upstream Upstream
	// BindHosts are served on Port; pods must address us by one of them.
	BindHosts []string
	Port      int
	// ProbeAddr serves /healthz and /readyz (default 127.0.0.1:2703);
	// MetricsAddr serves /metrics and the probes (default 0.0.0.0:2705).
	ProbeAddr   string
	MetricsAddr string
	// MaxCacheSize bounds the tokens cached; negative disables caching.
	MaxCacheSize int
	// MaxRefresh is the longest credentials are kept before they are
	// refreshed; negative disables caching.
	MaxRefresh time.Duration
	// RefreshQPS bounds background refreshes (the AWS agent's --max-service-qps).
	RefreshQPS float64
	// RequestQPS and RequestBurst bound pods' requests; a request beyond
	// them waits its turn up to QueueWait (default 1s) before a 429.
	// RequestQPS < 0 disables the bound.
	RequestQPS   float64
	RequestBurst int
	QueueWait    time.Duration
	// AnswerWithin bounds how long a pod waits for an answer (default 1.8s,
	// under botocore's 2s).
	AnswerWithin time.Duration
	Retry        RetryPolicy
	// Verifier, when set, lets a pod's rotated token reuse the pod's cached
	// credentials once its signature checks out against the cluster's keys;
	// without it every new token is exchanged with EKS Auth.
	Verifier TokenVerifier
	// Pods, when set, is asked before each background renewal whether the
	// pod the credentials are for still exists; a pod positively gone is
	// not renewed and its entry is dropped. Requests never wait for it.
	Pods PodChecker
	// CheckCredentials, when set, must succeed once before the agent
	// reports ready: the node's own AWS credentials resolve.
	CheckCredentials func(context.Context) error
	// CheckUpstream, when set, must succeed once before the agent reports
	// ready: EKS Auth (the podidentity server) can be reached, so that a
	// DaemonSet whose agents cannot reach it never looks healthy.
	CheckUpstream func(context.Context) error
	Logger        *slog.Logger
	// Registry receives the agent's metrics and is what /metrics serves.
	Registry *prometheus.Registry
	Now      func() time.Time
}

// Agent is a running node agent: its listeners, cache and servers.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	cache   *cache
	handler *handler
	creds   []net.Listener
	probe   net.Listener
	metrics net.Listener
	servers []*http.Server

	serving  atomic.Int32 // credential listeners accepting
	credsOK  atomic.Bool
	reached  atomic.Bool
	stopping atomic.Bool
}

// New builds the agent and binds every listener, so that configuration and
// port errors surface before Run.
func New(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("agent: no upstream")
	}
	if len(cfg.BindHosts) == 0 {
		cfg.BindHosts = DefaultBindHosts()
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 0 {
		cfg.Port = 0 // any free port; tests
	}
	if cfg.ProbeAddr == "" {
		cfg.ProbeAddr = fmt.Sprintf("127.0.0.1:%d", DefaultProbePort)
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = fmt.Sprintf("%s:%d", DefaultMetricsAddress, DefaultMetricsPort)
	}
	if cfg.RefreshQPS <= 0 {
		cfg.RefreshQPS = DefaultRefreshQPS
	}
	if cfg.RequestQPS == 0 {
		cfg.RequestQPS = DefaultRequestQPS
	}
	if cfg.RequestBurst <= 0 {
		cfg.RequestBurst = DefaultRequestBurst
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = time.Second
	}
	if cfg.AnswerWithin <= 0 {
		cfg.AnswerWithin = 1800 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hosts, hostList := map[string]bool{}, []string{}
	var bind []string
	for _, h := range cfg.BindHosts {
		c := canonicalHost(h)
		if c == "" || hosts[c] {
			continue
		}
		hosts[c] = true
		hostList = append(hostList, c)
		bind = append(bind, c)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger}
	m, err := newMetrics(cfg.Registry, func() float64 { return float64(a.cache.len()) })
	if err != nil {
		return nil, fmt.Errorf("agent: registering metrics: %w", err)
	}
	f := newFetcher(cfg.Upstream, cfg.Retry, cfg.Now, m)
	a.cache = newCache(cacheConfig{
		maxEntries: cfg.MaxCacheSize,
		maxRefresh: cfg.MaxRefresh,
		refreshQPS: cfg.RefreshQPS,
		now:        cfg.Now,
		verifier:   cfg.Verifier,
		pods:       cfg.Pods,
	}, f.fetch, m, cfg.Logger)
	a.handler = &handler{
		hosts:        hosts,
		hostList:     "[" + strings.Join(hostList, " ") + "]",
		cache:        a.cache,
		inbound:      newLimiter(cfg.RequestQPS, cfg.RequestBurst, cfg.Now),
		queueWait:    cfg.QueueWait,
		answerWithin: cfg.AnswerWithin,
		metrics:      m,
		log:          cfg.Logger,
		now:          cfg.Now,
	}
	if cfg.CheckCredentials == nil {
		a.credsOK.Store(true)
	}
	if cfg.CheckUpstream == nil {
		a.reached.Store(true)
	}

	if a.creds, err = listenCredentials(ctx, bind, cfg.Port, cfg.Logger); err != nil {
		a.cache.close()
		return nil, err
	}
	if a.probe, err = listenAddr(ctx, "the probe endpoint", cfg.ProbeAddr, "--probe-port"); err != nil {
		a.Close()
		return nil, err
	}
	if a.metrics, err = listenAddr(ctx, "the metrics endpoint", cfg.MetricsAddr, "--metrics-address/--metrics-port"); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func listenAddr(ctx context.Context, what, addr, flag string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("%s: %q is not a port", what, port)
	}
	ln, err := listenTCP(ctx, host, p)
	if err != nil {
		return nil, listenError(what, host, p, flag, err)
	}
	return ln, nil
}

// CredentialURLs are the URLs pods may be given, one per bound host.
func (a *Agent) CredentialURLs() []string {
	var out []string
	for _, ln := range a.creds {
		out = append(out, "http://"+ln.Addr().String()+CredentialsPath)
	}
	return out
}

// ProbeURL and MetricsURL are where the probes and metrics are served.
func (a *Agent) ProbeURL() string   { return "http://" + a.probe.Addr().String() }
func (a *Agent) MetricsURL() string { return "http://" + a.metrics.Addr().String() + "/metrics" }

// Handler is the credential endpoint alone, for tests and benchmarks.
func (a *Agent) Handler() http.Handler { return a.handler }

// Run serves until ctx ends, then stops gracefully: it reports not ready
// first, then lets requests in progress finish.
func (a *Agent) Run(ctx context.Context) error {
	probes := http.NewServeMux()
	probes.HandleFunc("GET /healthz", a.healthz)
	probes.HandleFunc("GET /readyz", a.readyz)
	metricsMux := http.NewServeMux()
	metricsMux.HandleFunc("GET /healthz", a.healthz)
	metricsMux.HandleFunc("GET /readyz", a.readyz)
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(a.cfg.Registry, promhttp.HandlerOpts{}))

	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       90 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          errLog,
		}
	}
	type served struct {
		srv  *http.Server
		ln   net.Listener
		cred bool
	}
	var all []served
	for _, ln := range a.creds {
		all = append(all, served{newServer(a.handler), ln, true})
	}
	all = append(all, served{newServer(probes), a.probe, false}, served{newServer(metricsMux), a.metrics, false})

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(all))
	var wg sync.WaitGroup
	for _, s := range all {
		a.servers = append(a.servers, s.srv)
		if s.cred {
			a.serving.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.srv.Serve(s.ln)
			if s.cred {
				a.serving.Add(-1)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving on %s: %w", s.ln.Addr(), err)
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.cache.runRefresher(runCtx) }()
	if a.cfg.CheckCredentials != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.checkUntilOK(runCtx, a.cfg.CheckCredentials, &a.credsOK, "the node's AWS credentials do not resolve yet; not ready")
		}()
	}
	if a.cfg.CheckUpstream != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.checkUntilOK(runCtx, a.cfg.CheckUpstream, &a.reached, "EKS Auth cannot be reached yet; not ready")
		}()
	}
	a.log.Info("agent serving", "credentials", a.CredentialURLs(), "probes", a.ProbeURL(), "metrics", a.MetricsURL())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.stopping.Store(true)
	a.log.Info("agent shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for _, s := range a.servers {
		s.Shutdown(shutdownCtx)
	}
	cancel()
	wg.Wait()
	a.cache.close()
	return runErr
}

// checkUntilOK runs check until it succeeds once, then sets ok.
func (a *Agent) checkUntilOK(ctx context.Context, check func(context.Context) error, ok *atomic.Bool, warning string) {
	delay := time.Second
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			ok.Store(true)
			return
		}
		a.log.Warn(warning, "err", err)
		if sleep(ctx, delay) != nil {
			return
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// healthz answers while every credential listener accepts connections.
// It checks in-process state only, never the network, so a busy node does
// not fail it and get the agent restarted.
func (a *Agent) healthz(w http.ResponseWriter, r *http.Request) {
	if int(a.serving.Load()) != len(a.creds) && !a.stopping.Load() {
		http.Error(w, "a credential listener stopped\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// readyz answers 200 once the agent can serve: every credential listener
// accepts, the node's credentials resolved and EKS Auth answered once; 503
// while shutting down. After that it does not follow EKS Auth: cached
// credentials are served while it is down, and a probe that followed it
// would flap.
func (a *Agent) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.stopping.Load():
		http.Error(w, "shutting down\n", http.StatusServiceUnavailable)
	case int(a.serving.Load()) != len(a.creds):
		http.Error(w, "credential listeners not serving\n", http.StatusServiceUnavailable)
	case !a.credsOK.Load():
		http.Error(w, "the node's AWS credentials do not resolve\n", http.StatusServiceUnavailable)
	case !a.reached.Load():
		http.Error(w, "EKS Auth (the server) cannot be reached\n", http.StatusServiceUnavailable)
	default:
		w.Write([]byte("ok\n"))
	}
}

// Close releases the listeners and stops the cache; Run does this itself.
func (a *Agent) Close() error {
	for _, s := range a.servers {
		s.Close()
	}
	for _, ln := range append(a.creds, a.probe, a.metrics) {
		if ln != nil {
			ln.Close()
		}
	}
	a.cache.close()
	return nil
}
