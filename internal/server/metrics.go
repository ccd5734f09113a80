package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/podidentity/podidentity/internal/awsproto"
)

// metrics are the server's Prometheus series, served at GET /metrics on the
// API listener next to /healthz. Labels come from fixed sets (operation
// names and AWS error codes), never from request data, so a hostile client
// cannot grow them.
type metrics struct {
	requests *prometheus.CounterVec   // podidentity_server_requests_total{operation,code}
	duration *prometheus.HistogramVec // podidentity_server_request_duration_seconds{operation}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podidentity_server_requests_total",
			Help: "AWS API requests by operation and outcome: OK, or the error code the client received (e.g. InvalidTokenException, ThrottlingException).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podidentity_server_request_duration_seconds",
			Help:    "Time to answer an AWS API request, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one answered request; a nil *metrics counts nothing.
func (m *metrics) observe(operation string, d awsproto.Dialect, err error, elapsed time.Duration) {
	if m == nil {
		return
	}
	code := "OK"
	if err != nil {
		we, _ := awsproto.Lookup(d, awsproto.ErrorCode(err))
		code = we.Type
	}
	m.requests.WithLabelValues(operation, code).Inc()
	m.duration.WithLabelValues(operation).Observe(elapsed.Seconds())
}

func metricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
