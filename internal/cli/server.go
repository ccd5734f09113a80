package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/config"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/preflight"
	"github.com/podidentity/podidentity/internal/server"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
	"github.com/podidentity/podidentity/internal/store/storeurl"
)

func newServerCommand(stdout, stderr io.Writer) *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the EKS, EKS Auth and STS APIs",
		Long: `Serve the EKS Pod Identity APIs (EKS associations, EKS Auth's
AssumeRoleForPodIdentity, STS) from a YAML configuration, or with --dev from
none: an in-memory store, a demo cluster and any access key accepted.`,
		Example: `  podidentity server --dev
  podidentity server --config /etc/podidentity/podidentity.yaml --listen :8080
  podidentity server --check --config /etc/podidentity/podidentity.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runServer(cmd.Context(), o, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.configPath, "config", "", "path of the YAML configuration file")
	fs.BoolVar(&o.dev, "dev", false, "development mode: no config file, in-memory store, a demo cluster")
	fs.StringVar(&o.listen, "listen", "", "listen address, overriding the config's listen key")
	fs.BoolVar(&o.check, "check", false, "with --config: check the whole configuration (files, environment, storage), print every problem or a summary, and exit without serving")
	return cmd
}

type serverOptions struct {
	configPath, listen string
	dev, check         bool
}

func runServer(ctx context.Context, o serverOptions, stdout, stderr io.Writer) int {
	var (
		cfg *config.File
		err error
	)
	switch {
	case o.dev && o.configPath != "":
		fmt.Fprintln(stderr, "podidentity server: --dev and --config are exclusive")
		return 2
	case o.check:
		return runCheck(ctx, o.configPath, preflight.Flags{Listen: o.listen}, stdout, stderr)
	case o.dev:
		cfg = devConfig()
	case o.configPath != "":
		cfg, err = config.Load(o.configPath)
	default:
		fmt.Fprintln(stderr, "podidentity server: no configuration: run with --dev to try it (in memory, a demo cluster), or --config FILE to serve your clusters")
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity server: %v\n", err)
		return 1
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	p, err := NewServerProgram(ctx, cfg, o.dev, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity server: %v\n", err)
		return 1
	}
	defer p.Close()
	if err := p.Run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "podidentity server: %v\n", err)
		return 1
	}
	return 0
}

// runCheck is `server --check --config FILE`: exit 0 with a summary, or 1
// with every problem.
func runCheck(ctx context.Context, path string, flags preflight.Flags, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "podidentity server: --check needs --config FILE")
		return 2
	}
	r := preflight.Check(ctx, path, flags)
	if !r.OK() {
		r.Write(stderr)
		return 1
	}
	r.Write(stdout)
	return 0
}

// devConfig is the zero-configuration development setup.
func devConfig() *config.File {
	f := &config.File{
		Storage: "memory",
		Clusters: []config.Cluster{{
			Name:   "demo",
			Issuer: "https://oidc.podidentity.local/demo",
		}},
		Log: config.Log{Format: "text"},
	}
	f.ApplyDefaults()
	return f
}

// ServerProgram is a running podidentity server: its store, service and
// listener. Tests start it on 127.0.0.1:0.
type ServerProgram struct {
	cfg   *config.File
	log   *slog.Logger
	store pi.Store
	http  *http.Server
	ln    net.Listener
	dev   bool
	// logOut is where the logs go; the dev banner goes with them.
	logOut io.Writer
}

// NewServerProgram opens the store, builds the service and binds the
// listener, so that configuration and port errors surface before Run.
func NewServerProgram(ctx context.Context, cfg *config.File, dev bool, logOut io.Writer) (*ServerProgram, error) {
	if dev && !loopbackListen(cfg.Listen) {
		// Anyone who can reach a --dev server is its administrator: it
		// takes any access key without checking the signature.
		return nil, fmt.Errorf("--dev accepts any access key as an administrator, so it listens only on a loopback address (127.0.0.1, [::1] or localhost), not %q; use --config with auth.principals to serve other machines", cfg.Listen)
	}
	log := newLogger(cfg.Log, logOut)
	storeOpts, err := storeOptions(cfg.StorageOptions)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.OpenOptions(ctx, cfg.Storage, storeOpts)
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	clusters := make([]pi.ClusterSpec, 0, len(cfg.Clusters))
	for _, c := range cfg.Clusters {
		endpoint := c.Endpoint
		if endpoint == "" && c.TokenReview != nil {
			endpoint = c.TokenReview.APIServer
		}
		clusters = append(clusters, pi.ClusterSpec{Name: c.Name, Issuer: c.Issuer, Endpoint: endpoint})
	}
	creds, err := newCredentialStack(ctx, cfg, dev, store, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	svc, err := pi.NewService(ctx, pi.ServiceConfig{
		Credentials:      creds.deps,
		CredentialPolicy: creds.policy,
		Store:            store,
		Region:           cfg.Region,
		Partition:        config.Partition(cfg.Region),
		AccountID:        cfg.AccountID,
		Clusters:         clusters,
		AssociationLimit: cfg.Limits.AssociationsPerCluster,
		Patterns:         cfg.Associations.Patterns,
		SessionShaping:   cfg.Associations.SessionShaping,
		Logger:           log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scfg := server.Config{Service: svc, Store: store, Logger: log, Verifier: creds.verifier, Authorizer: creds.authz,
		Registry: reg, KeysLoaded: creds.keysLoaded, LoopbackOnly: dev}
	if creds.minter != nil {
		scfg.DevTokens = creds.minter
	}
	for _, c := range cfg.Clusters {
		// Validate refuses podTokenAuth without tokenReview; checked again
		// here because an unsigned call's only proof is the reviewed token.
		if c.PodTokenAuth && c.TokenReview != nil {
			scfg.PodTokenClusters = append(scfg.PodTokenClusters, c.Name)
		}
	}
	handler := server.New(scfg)
	p := &ServerProgram{
		cfg:    cfg,
		dev:    dev,
		log:    log,
		logOut: logOut,
		store:  store,
		ln:     ln,
		http:   server.NewHTTPServer(handler, log, server.DefaultTimeouts()),
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	if dev {
		log.Warn("DEVELOPMENT MODE: in-memory store, demo cluster, and ANY access key is accepted as an administrator without checking its signature; never expose this server")
	}
	return p, nil
}

// loopbackListen reports whether a listen address binds loopback only. An
// empty host (":8080") binds every interface.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the address the server listens on.
func (p *ServerProgram) Addr() string { return p.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (p *ServerProgram) Run(ctx context.Context, stdout io.Writer) error {
	fmt.Fprintf(stdout, "podidentity server listening on http://%s (region %s, account %s, storage %s)\n",
		p.Addr(), p.cfg.Region, p.cfg.AccountID, storageLabel(p.cfg.Storage))
	if p.dev {
		printDevBanner(p.logOut, p.Addr(), p.cfg)
	}
	return serveUntilDone(ctx, p.http, p.log, func() error { return p.http.Serve(p.ln) })
}

// serveUntilDone runs serve until it fails or ctx ends, then shuts srv down
// gracefully, giving requests in flight 10 seconds to finish.
func serveUntilDone(ctx context.Context, srv *http.Server, log *slog.Logger, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log.Info("shutting down")
	return srv.Shutdown(shutdownCtx)
}

// Close releases the store and the listener.
func (p *ServerProgram) Close() error {
	p.http.Close()
	return p.store.Close()
}

// storageLabel hides a password a storage URL may carry.
func storageLabel(s string) string { return storeurl.Redacted(s) }

func newLogger(c config.Log, out io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}
