package agent

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's Prometheus series. The pod_identity_* names are
// the AWS agent's, so its dashboards keep working; podidentity_agent_* are
// ours.
type metrics struct {
	responses   *prometheus.CounterVec   // pod_identity_http_response{code}
	cacheState  *prometheus.CounterVec   // pod_identity_cache_state{state}
	cacheErrors *prometheus.CounterVec   // pod_identity_cache_errors{type,code}
	upstreamDur *prometheus.HistogramVec // podidentity_agent_upstream_request_duration_seconds{outcome}
	requestDur  prometheus.Histogram     // podidentity_agent_request_duration_seconds
	podChecks   *prometheus.CounterVec   // podidentity_agent_pod_checks_total{result}
}

// Cache states counted in pod_identity_cache_state.
const (
	stateHit       = "hit"       // served from the cache
	stateMiss      = "miss"      // had to ask upstream
	stateStale     = "stale"     // refresh failed; still-valid cached credentials served
	stateRefreshed = "refreshed" // background refresh succeeded
	stateEvicted   = "evicted"   // removed: expired, irrecoverable error, or LRU bound
	stateIdle      = "idle"      // background refresh stopped: nobody asked since its credentials expired
	stateReused    = "reused"    // a pod's rotated token, verified, served the pod's cached credentials
	stateGone      = "gone"      // not renewed but dropped: the API server says its pod is gone
)

func newMetrics(reg prometheus.Registerer, entries func() float64) (*metrics, error) {
	m := &metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_identity_http_response",
			Help: "Responses to pods' credential requests, by HTTP status code.",
		}, []string{"code"}),
		cacheState: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_identity_cache_state",
			Help: "Credential cache events: hit, miss, stale, refreshed, evicted, idle, reused, gone.",
		}, []string{"state"}),
		cacheErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_identity_cache_errors",
			Help: "Failed credential refreshes, by type (Recoverable: cached credentials kept; NonRecoverable: dropped) and error code.",
		}, []string{"type", "code"}),
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podidentity_agent_upstream_request_duration_seconds",
			Help:    "Duration of each EKS Auth AssumeRoleForPodIdentity attempt, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		requestDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "podidentity_agent_request_duration_seconds",
			Help:    "Time to answer a pod's credential request.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .05, .1, .5, 1, 2.5},
		}),
		podChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podidentity_agent_pod_checks_total",
			Help: "Checks, before a background renewal, that the pod still exists: alive, gone (not renewed), error (renewed anyway).",
		}, []string{"result"}),
	}
	cs := []prometheus.Collector{m.responses, m.cacheState, m.cacheErrors, m.upstreamDur, m.requestDur, m.podChecks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "podidentity_agent_cache_entries",
			Help: "Tokens whose credentials are cached.",
		}, entries)}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) response(code int, d time.Duration) {
	m.responses.WithLabelValues(strconv.Itoa(code)).Inc()
	m.requestDur.Observe(d.Seconds())
}

func (m *metrics) cache(state string) { m.cacheState.WithLabelValues(state).Inc() }

func (m *metrics) refreshFailed(err error) {
	kind, code := "Recoverable", "Unknown"
	if ue := asUpstreamError(err); ue != nil {
		if ue.irrecoverable() {
			kind = "NonRecoverable"
		}
		switch {
		case ue.Code != "":
			code = ue.Code
		case ue.Status != 0:
			code = strconv.Itoa(ue.Status)
		default:
			code = "NoResponse"
		}
	}
	m.cacheErrors.WithLabelValues(kind, code).Inc()
}

// upstream records one attempt.
func (m *metrics) upstream(err error, d time.Duration) {
	outcome := "success"
	if err != nil {
		outcome = "error"
		if ue := asUpstreamError(err); ue != nil {
			switch {
			case ue.throttled():
				outcome = "throttled"
			case ue.Status == 0:
				outcome = "no_response"
			case ue.Status >= 500:
				outcome = "server_error"
			default:
				outcome = "client_error"
			}
		}
	}
	m.upstreamDur.WithLabelValues(outcome).Observe(d.Seconds())
}

// podCheck records one pod-existence check. A steady stream of errors
// (e.g. 403: the agent may not get pods) means dead pods are renewed.
func (m *metrics) podCheck(gone bool, err error) {
	result := "alive"
	switch {
	case err != nil:
		result = "error"
	case gone:
		result = "gone"
	}
	m.podChecks.WithLabelValues(result).Inc()
}
