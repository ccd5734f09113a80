package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// maxBodyBytes caps request bodies. The largest legal EKS request (50 tags
// of 128+256 bytes and a 2 KiB policy) is far below it.
const maxBodyBytes = 256 << 10

// Config is what the HTTP layer needs.
type Config struct {
	Service *pi.Service
	Store   pi.Store // for /readyz
	// KeysLoaded, when set, is also asked by /readyz: it fails while some
	// cluster's token keys have never been loaded (they are kept once
	// they have), so a server that cannot validate tokens is not Ready.
	KeysLoaded func(context.Context) error
	Logger     *slog.Logger
	// Verifier authenticates every AWS API request (SigV4).
	Verifier *sigv4.Verifier[authz.Caller]
	// Authorizer decides whether the authenticated caller may perform an
	// operation's IAM action on its cluster.
	Authorizer Authorizer
	// DevTokens, when set, serves POST /podidentity/dev/token so that
	// `podidentity token` can mint tokens for a --dev server's clusters.
	DevTokens DevTokenMinter
	// Registry, when set, receives the server's request metrics and is
	// served at GET /metrics.
	Registry *prometheus.Registry
	// LoopbackOnly refuses every request whose Host is not localhost,
	// 127.0.0.1 or [::1]: the --dev server's defence against DNS
	// rebinding.
	LoopbackOnly bool
	// PodTokenClusters are the clusters whose AssumeRoleForPodIdentity
	// calls may come unsigned, authenticated by the pod's token alone
	// (config podTokenAuth). Their token validation must include
	// TokenReview: the token is then the only proof of who calls.
	PodTokenClusters []string
}

// Server is the podidentity HTTP handler.
type Server struct {
	svc       *pi.Service
	db        pi.Store
	log       *slog.Logger
	mux       *http.ServeMux
	verifier  *sigv4.Verifier[authz.Caller]
	authz     Authorizer
	devTokens DevTokenMinter
	keys      func(context.Context) error
	metrics   *metrics
	registry  *prometheus.Registry

	loopbackOnly bool
	podToken     map[string]bool // clusters of Config.PodTokenClusters
}

// Authorizer is the IAM-like decision: may caller perform action on the
// resource (in cluster; "" for account-wide actions)? May it pass roleARN
// to an association (iam:PassRole)?
type Authorizer interface {
	Authorize(caller authz.Caller, action, cluster, resourceARN string) error
	AuthorizePassRole(caller authz.Caller, roleARN string) error
}

// New builds the handler with every route registered.
func New(cfg Config) *Server {
	if cfg.Verifier == nil || cfg.Authorizer == nil {
		panic("server: Config.Verifier and Config.Authorizer are required")
	}
	s := &Server{svc: cfg.Service, db: cfg.Store, log: cfg.Logger, mux: http.NewServeMux(),
		verifier: cfg.Verifier, authz: cfg.Authorizer, devTokens: cfg.DevTokens, registry: cfg.Registry,
		keys: cfg.KeysLoaded, loopbackOnly: cfg.LoopbackOnly, podToken: map[string]bool{}}
	for _, c := range cfg.PodTokenClusters {
		s.podToken[c] = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry != nil {
		m, err := newMetrics(cfg.Registry)
		if err != nil {
			// Only a registry that already holds these series gets here.
			panic("server: " + err.Error())
		}
		s.metrics = m
	}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.foreignHost(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if h := s.fromWebPage(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if h := s.uncleanPath(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// handlerFunc is an endpoint: it writes its own success response and
// returns an error for the wrapper to render in the route's dialect.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// bodyHandler is an endpoint that reads a request body: it gets the body
// read once, capped at maxBodyBytes, by withBody or operation.
type bodyHandler func(w http.ResponseWriter, r *http.Request, body []byte) error

// withBody reads the request body for h.
func withBody(h bodyHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := awsproto.ReadBody(r, maxBodyBytes)
		if err != nil {
			return err
		}
		return h(w, r, body)
	}
}

// op describes an AWS operation: how its errors look, which signing
// service and IAM action guard it, and which cluster and resource it acts on.
type op struct {
	name    string
	dialect awsproto.Dialect
	service string // SigV4 signing name: eks, eks-auth or sts
	action  string // IAM action; "" when the handler authorizes (STS)
	scope   func(r *http.Request) (cluster, resourceARN string)
	// podToken says the handler authenticates the caller by the pod token
	// in the body when the request carries no signature at all and its
	// cluster allows that (Config.PodTokenClusters).
	podToken bool
	// nameFrom names the operation from the request, for an endpoint that
	// serves several (STS); the name goes to the log and the metrics.
	nameFrom func(r *http.Request, body []byte) string
}

// podTokenCaller is the caller of an unsigned call authenticated by the
// pod token it carries; the handler's token validation is the proof. It
// has no identity of its own and no grants: nothing is authorized to it.
type podTokenCaller struct{ cluster string }

var _ authz.Caller = (*podTokenCaller)(nil)

func (*podTokenCaller) Identity() (arn, userID, account string) { return "", "", "" }
func (*podTokenCaller) Granted(func(authz.Grant) bool) bool     { return false }
func (*podTokenCaller) SessionPolicy() string                   { return "" }

// operation wraps an AWS operation with what every one of them needs: a
// request id, a capped body read once, SigV4 authentication, IAM-style
// authorization, errors rendered the way the service renders them, panics
// turned into internal errors, and one access-log line.
func (s *Server) operation(o op, h bodyHandler) http.Handler {
	return s.wrap(o.name, o.dialect, func(w http.ResponseWriter, r *http.Request) (string, error) {
		body, err := awsproto.ReadBody(r, maxBodyBytes)
		if err != nil {
			return "", err
		}
		if o.nameFrom != nil {
			setOpName(r.Context(), o.nameFrom(r, body))
		}
		res, err := s.verifier.Verify(r.Context(), r, body, o.service)
		if err != nil {
			// Only a request with no signature at all (no Authorization
			// header, no presigned query) is MissingAuthenticationToken;
			// a bad or partial signature keeps its error.
			if !o.podToken || sigv4.KindOf(err) != sigv4.MissingAuth {
				return "", err
			}
			cluster, _ := o.scope(r)
			if !s.podToken[cluster] {
				return "", err
			}
			r = r.WithContext(withCaller(r.Context(), &podTokenCaller{cluster: cluster}))
			return "pod-token", h(w, r, body)
		}
		caller := callerARN(res.Caller)
		if o.action != "" {
			cluster, resource := o.scope(r)
			if err := s.authz.Authorize(res.Caller, o.action, cluster, resource); err != nil {
				return caller, err
			}
		}
		r = r.WithContext(withCaller(r.Context(), res.Caller))
		return caller, h(w, r, body)
	})
}

// unauthenticated wraps an endpoint that needs no AWS credentials.
func (s *Server) unauthenticated(name string, d awsproto.Dialect, h handlerFunc) http.Handler {
	return s.wrap(name, d, func(w http.ResponseWriter, r *http.Request) (string, error) {
		return "", h(w, r)
	})
}

func (s *Server) wrap(name string, d awsproto.Dialect, h func(w http.ResponseWriter, r *http.Request) (caller string, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = withOpName(r)
		id := uuid.NewString()
		w.Header().Set(awsproto.RequestIDHeader, id)
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		rec := &statusRecorder{ResponseWriter: w}

		var caller string
		err := s.call(func(w http.ResponseWriter, r *http.Request) error {
			var err error
			caller, err = h(w, r)
			return err
		}, rec, r)
		if err != nil {
			if code := awsproto.ErrorCode(err); code == pi.CodeInternal || code == pi.CodeUnavailable {
				s.log.Error("request failed", "operation", opName(r, name), "request_id", id, "err", err)
			}
			if rec.status != 0 {
				// The handler already started its response; nothing more
				// can be said on the wire.
				s.log.Error("error after response started", "operation", opName(r, name), "request_id", id, "err", err)
			} else if d == awsproto.STS {
				awsproto.WriteQueryError(rec, err, id)
			} else {
				awsproto.WriteRESTJSONError(rec, d, err, id)
			}
		}
		elapsed := time.Since(start)
		operation := opName(r, name)
		s.metrics.observe(operation, d, err, elapsed)
		s.logRequest(r, operation, d, rec.status, id, caller, err, elapsed)
	})
}

// call runs h, turning a panic into an internal error so that no request
// ever gets a bare 500 or a dropped connection.
func (s *Server) call(h handlerFunc, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = pi.Internal(fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
		}
	}()
	return h(w, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) routes() {
	s.eksRoutes()
	s.clusterLifecycleRoutes()
	s.eksAuthRoutes()
	s.stsRoutes()
	if s.devTokens != nil {
		s.mux.Handle("POST /podidentity/dev/token", s.unauthenticated("DevToken", awsproto.EKS, withBody(s.devToken)))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.registry != nil {
		s.mux.Handle("GET /metrics", metricsHandler(s.registry))
	}
	// "/tags" alone names no resource; without a route of its own the mux
	// would redirect it to "/tags/".
	s.mux.Handle("/tags", s.unauthenticated("Unknown", awsproto.EKSTags, func(w http.ResponseWriter, r *http.Request) error {
		return pi.Errorf(pi.CodeNotFound, "No resource ARN in the path.")
	}))
	// Anything else is an operation AWS would not recognise either.
	s.mux.Handle("/", s.unauthenticated("Unknown", awsproto.EKS, func(w http.ResponseWriter, r *http.Request) error {
		return pi.Errorf(awsproto.CodeUnknownOperation, "No operation matches %s %s.", r.Method, clipPath(r.URL.Path))
	}))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("not ready: store unreachable", "err", err)
		http.Error(w, "store unreachable\n", http.StatusServiceUnavailable)
		return
	}
	if s.keys != nil {
		if err := s.keys(ctx); err != nil {
			s.log.Warn("not ready: token keys not loaded", "err", err)
			http.Error(w, "token keys not loaded: "+err.Error()+"\n", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ok\n"))
}

func clipPath(p string) string {
	if len(p) > 256 {
		return p[:256] + "..."
	}
	return p
}

// errMissing is returned for a required member the request lacks.
func errMissing(member string) error {
	return pi.Errorf(pi.CodeInvalidParameter, "Missing required member %s.", member)
}
