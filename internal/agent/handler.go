package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// CredentialsPath is where pods ask for credentials.
const CredentialsPath = "/v1/credentials"

// credentialsResponse is the container credential provider's format, as
// every AWS SDK parses it.
type credentialsResponse struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	AccountID       string `json:"AccountId,omitempty"`
	Expiration      string `json:"Expiration"`
}

// handler serves GET /v1/credentials.
type handler struct {
	hosts     map[string]bool // canonical hosts pods may address us by
	hostList  string          // for the 403 message
	cache     *cache
	inbound   *limiter
	queueWait time.Duration // longest a request waits for an inbound turn
	// answerWithin bounds how long a pod waits for us: less than its SDK
	// waits (botocore: 2s), so it gets an answer rather than a timeout.
	answerWithin time.Duration
	metrics      *metrics
	log          *slog.Logger
	now          func() time.Time
}

// canonicalHost is host without port or brackets, IP addresses in their
// canonical form, names lowercased.
func canonicalHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(h)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := h.serve(w, r)
	h.metrics.response(status, time.Since(start))
}

// serve answers and returns the status it answered with.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.URL.Path != CredentialsPath {
		return h.fail(w, r, http.StatusNotFound, "404 page not found", nil)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return h.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", nil)
	}
	// A page in the pod's browser could otherwise reach us through DNS
	// rebinding: only requests addressed to one of our own hosts count.
	if host := canonicalHost(r.Host); !h.hosts[host] {
		return h.fail(w, r, http.StatusForbidden, fmt.Sprintf(
			"Access Denied. Called agent through invalid address, please use either %s address not %s", h.hostList, host), nil)
	}
	raw := r.Header.Get("Authorization")
	if raw == "" {
		return h.fail(w, r, http.StatusBadRequest, "Service account token cannot be empty", nil)
	}
	if err := h.inbound.wait(r.Context(), h.queueWait); err != nil {
		return h.fail(w, r, http.StatusTooManyRequests, "Too Many Requests. The agent is answering as fast as it may; retry shortly", nil)
	}
	now := h.now()
	// A token seen before was parsed then; only its expiry can have changed.
	creds, ok := h.cache.lookup(sha256.Sum256([]byte(raw)), now)
	if !ok {
		tok, err := parseToken(raw, now)
		if err != nil {
			return h.fail(w, r, http.StatusBadRequest, err.Error(), nil)
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.answerWithin)
		creds, err = h.cache.get(ctx, tok)
		cancel()
		if err != nil {
			status, msg := upstreamStatus(err)
			return h.fail(w, r, status, msg, []any{"token", tok.key.String(), "namespace", tok.namespace,
				"service_account", tok.serviceAccount, "pod", tok.podName, "err", err})
		}
	}
	body, err := json.Marshal(credentialsResponse{
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: creds.SecretAccessKey,
		Token:           creds.SessionToken,
		AccountID:       creds.AccountID,
		Expiration:      creds.Expiration.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return h.fail(w, r, http.StatusInternalServerError, "Unable to serialize credentials", []any{"err", err})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		h.log.Debug("credentials served", "access_key_id", creds.AccessKeyID, "role", creds.RoleARN, "remote", r.RemoteAddr)
	}
	return http.StatusOK
}

// upstreamStatus is the AWS agent's answer to a failed exchange: EKS Auth's
// own status when it answered with one, else 500; the message names its
// request id and error code.
func upstreamStatus(err error) (int, string) {
	ue := asUpstreamError(err)
	if ue == nil {
		return http.StatusInternalServerError, "Internal error: " + err.Error()
	}
	if ue.Status < 400 || ue.Status > 599 {
		if errors.Is(ue.Err, context.DeadlineExceeded) || errors.Is(ue.Err, context.Canceled) {
			return http.StatusInternalServerError, "EKS Auth did not answer in time; the agent keeps trying, retry shortly"
		}
		if ue.Status != 0 {
			return http.StatusInternalServerError, fmt.Sprintf("EKS Auth answered %d unusably: %v", ue.Status, ue.Err)
		}
		return http.StatusInternalServerError, "Unable to reach EKS Auth: " + ue.Err.Error()
	}
	fault := "client"
	if ue.Status >= 500 {
		fault = "server"
	}
	return ue.Status, fmt.Sprintf("[%s]: (%s): %s, fault: %s", ue.RequestID, ue.Code, ue.Message, fault)
}

// fail writes a plain-text error, as the AWS agent does, and logs it.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string, attrs []any) int {
	http.Error(w, msg, status)
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		level = slog.LevelDebug // scanners and probes, not pods
	}
	h.log.Log(r.Context(), level, "credential request refused",
		append([]any{"status", status, "reason", msg, "remote", r.RemoteAddr}, attrs...)...)
	return status
}
