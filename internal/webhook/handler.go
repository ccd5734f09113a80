package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AssociationChecker says whether a service account has a pod identity
// association in the webhook's cluster.
type AssociationChecker interface {
	HasAssociation(ctx context.Context, namespace, serviceAccount string) (bool, error)
}

// Config is what the handler needs.
type Config struct {
	Options      Options
	Associations AssociationChecker
	// FailClosed refuses pod creation when the association cannot be
	// looked up; otherwise the pod is created without credentials and its
	// creator is warned.
	FailClosed bool
	// LookupTimeout bounds one association lookup; zero means 5 s. Keep it
	// below the MutatingWebhookConfiguration's timeoutSeconds, so that an
	// outage is decided by FailClosed rather than by the API server's
	// failurePolicy.
	LookupTimeout time.Duration
	Logger        *slog.Logger
	// Registry, when set, receives the webhook's metrics.
	Registry prometheus.Registerer
}

// Handler serves AdmissionReviews for pods.
type Handler struct {
	opts       Options
	assoc      AssociationChecker
	failClosed bool
	timeout    time.Duration
	log        *slog.Logger
	metrics    *metrics
}

// NewHandler checks the configuration and builds the handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Options.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if cfg.Associations == nil {
		return nil, errors.New("webhook: no association checker")
	}
	h := &Handler{opts: cfg.Options, assoc: cfg.Associations, failClosed: cfg.FailClosed, timeout: cfg.LookupTimeout, log: cfg.Logger}
	if h.timeout <= 0 {
		h.timeout = 5 * time.Second
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry != nil {
		m, err := newMetrics(cfg.Registry)
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		h.metrics = m
	}
	return h, nil
}

// ServeHTTP takes a POSTed AdmissionReview and answers with one. A body
// that is not a well-formed AdmissionReview gets 400 and the reason in
// plain text; everything else gets 200 and a review whose response says
// what to do with the pod.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug here must cost one request a 500, not the connection
		// (which net/http would drop) or the API server a bare EOF.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("panic serving an AdmissionReview", "panic", p, "stack", string(debug.Stack()))
			h.metrics.admitted(resultError)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewSize+1))
	if err != nil {
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	req, pod, err := DecodeReview(body)
	if err != nil {
		var re *ReviewError
		if !errors.As(err, &re) {
			re = &ReviewError{Reason: "cannot be decoded"}
		}
		h.log.Warn("refusing a malformed AdmissionReview", "reason", re.Reason, "remote", r.RemoteAddr)
		h.metrics.admitted(resultMalformed)
		http.Error(w, re.Error(), http.StatusBadRequest)
		return
	}
	resp, result := h.review(r.Context(), req, pod)
	h.metrics.admitted(result)
	resp.UID = req.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	})
	if err != nil {
		h.log.Error("encoding the AdmissionReview response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// review decides about one request, and says how (a metrics result).
func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest, pod *corev1.Pod) (*admissionv1.AdmissionResponse, string) {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if pod == nil {
		// Not a pod creation: the MutatingWebhookConfiguration should not
		// have sent it, but there is nothing to do about it.
		return allow, resultNotAPod
	}
	namespace := req.Namespace
	if namespace == "" {
		namespace = pod.Namespace
	}
	// A pod created by a controller often has no namespace in its body;
	// Mutate needs it for the sidecar namespaces.
	if pod.Namespace == "" {
		pod.Namespace = namespace
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		// The ServiceAccount admission plugin, which runs before webhooks,
		// fills this in; a cluster without it runs pods as "default".
		sa = "default"
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	log := h.log.With("uid", string(req.UID), "namespace", namespace, "pod", name, "service_account", sa)

	// Mutate first: a pod with nothing to inject (every container opted
	// out, or a reinvocation after we injected) costs no lookup.
	res, err := Mutate(pod, h.opts)
	if err != nil {
		log.Error("mutating the pod", "err", err)
		return allow, resultError
	}
	if len(res.Patch) == 0 {
		if len(res.Warnings) > 0 {
			log.Info("pod left unchanged", "warnings", res.Warnings)
		}
		allow.Warnings = res.Warnings
		return allow, resultNothingToInject
	}

	lctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	start := time.Now()
	has, err := h.assoc.HasAssociation(lctx, namespace, sa)
	h.metrics.lookedUp(err, time.Since(start))
	if err != nil {
		if h.failClosed {
			log.Error("cannot look up the service account's association; refusing the pod (fail closed)", "err", err)
			return &admissionv1.AdmissionResponse{Result: &metav1.Status{
				Status:  metav1.StatusFailure,
				Code:    http.StatusServiceUnavailable,
				Reason:  metav1.StatusReasonServiceUnavailable,
				Message: "podidentity: cannot look up the pod identity association of service account " + namespace + "/" + sa + "; retry later",
			}}, resultRefused
		}
		log.Error("cannot look up the service account's association; admitting the pod without credentials (fail open)", "err", err)
		allow.Warnings = []string{"podidentity: association lookup failed; pod created without EKS Pod Identity credentials"}
		return allow, resultFailedOpen
	}
	if !has {
		log.Debug("no association; pod left unchanged")
		return allow, resultNoAssociation
	}
	patch, err := json.Marshal(res.Patch)
	if err != nil {
		log.Error("encoding the patch", "err", err)
		return allow, resultError
	}
	log.Info("injecting pod identity", "containers", strings.Join(res.Injected, ","), "warnings", res.Warnings)
	pt := admissionv1.PatchTypeJSONPatch
	allow.Patch, allow.PatchType, allow.Warnings = patch, &pt, res.Warnings
	return allow, resultMutated
}
