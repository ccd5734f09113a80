package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"

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
	Logger  *slog.Logger
	// STSVerifier authenticates STS requests; nil: STS is not served.
	STSVerifier *sigv4.Verifier
	// DevTokens, when set, serves POST /podidentity/dev/token so that
	// `podidentity token` can mint tokens for a --dev server's clusters.
	DevTokens DevTokenMinter
}

// Server is the podidentity HTTP handler.
type Server struct {
	svc       *pi.Service
	db        pi.Store
	log       *slog.Logger
	mux       *http.ServeMux
	stsAuth   *sigv4.Verifier
	devTokens DevTokenMinter
}

// New builds the handler with every route registered.
func New(cfg Config) *Server {
	s := &Server{svc: cfg.Service, db: cfg.Store, log: cfg.Logger, mux: http.NewServeMux(), stsAuth: cfg.STSVerifier, devTokens: cfg.DevTokens}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handlerFunc is an AWS operation: it writes its own success response and
// returns an error for the wrapper to render in the route's dialect.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// operation wraps an AWS operation with what every one of them needs: a
// request id, a body cap, errors rendered the way the service renders them,
// panics turned into internal errors, and one access-log line.
func (s *Server) operation(name string, d awsproto.Dialect, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := uuid.NewString()
		w.Header().Set(awsproto.RequestIDHeader, id)
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		rec := &statusRecorder{ResponseWriter: w}

		err := s.call(h, rec, r)
		if err != nil {
			if pi.ErrorCode(err) == pi.CodeInternal || pi.ErrorCode(err) == pi.CodeUnavailable {
				s.log.Error("request failed", "op", name, "request_id", id, "err", err)
			}
			if rec.status != 0 {
				// The handler already started its response; nothing more
				// can be said on the wire.
				s.log.Error("error after response started", "op", name, "request_id", id, "err", err)
			} else if d == awsproto.STS {
				awsproto.WriteQueryError(rec, err, id)
			} else {
				awsproto.WriteRESTJSONError(rec, d, err, id)
			}
		}
		attrs := []any{"op", name, "status", rec.status, "request_id", id, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			attrs = append(attrs, "error_code", string(pi.ErrorCode(err)))
		}
		s.log.Info("request", attrs...)
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
	s.eksAuthRoutes()
	if s.stsAuth != nil {
		s.stsRoutes()
	}
	if s.devTokens != nil {
		s.mux.Handle("POST /podidentity/dev/token", s.operation("DevToken", awsproto.EKS, s.devToken))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	// Anything else is an operation AWS would not recognise either.
	s.mux.Handle("/", s.operation("Unknown", awsproto.EKS, func(w http.ResponseWriter, r *http.Request) error {
		return pi.Errorf(pi.CodeUnknownOperation, "No operation matches %s %s.", r.Method, clipPath(r.URL.Path))
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
