package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of an admission review, counted in
// podidentity_webhook_admissions_total{result}.
const (
	resultMutated         = "mutated"           // credentials injected
	resultNoAssociation   = "no_association"    // the service account has none
	resultNothingToInject = "nothing_to_inject" // already injected, or every container opted out
	resultFailedOpen      = "failed_open"       // lookup failed; admitted without credentials
	resultRefused         = "refused"           // lookup failed; refused (--fail-closed)
	resultMalformed       = "malformed"         // not an AdmissionReview: 400
	resultNotAPod         = "not_a_pod"         // not a pod creation
	resultError           = "error"             // a bug: admitted unchanged
)

// metrics are the webhook's Prometheus series; a nil *metrics counts
// nothing.
type metrics struct {
	admissions *prometheus.CounterVec   // podidentity_webhook_admissions_total{result}
	lookups    *prometheus.HistogramVec // podidentity_webhook_association_lookup_duration_seconds{outcome}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podidentity_webhook_admissions_total",
			Help: "Pod admission reviews by result: mutated, no_association, nothing_to_inject, failed_open, refused, malformed, not_a_pod, error.",
		}, []string{"result"}),
		lookups: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podidentity_webhook_association_lookup_duration_seconds",
			Help:    "Time to learn whether a service account has an association (cached or asked of the server), by outcome: ok or error.",
			Buckets: []float64{.00001, .0001, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.admissions, m.lookups} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) admitted(result string) {
	if m != nil {
		m.admissions.WithLabelValues(result).Inc()
	}
}

func (m *metrics) lookedUp(err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.lookups.WithLabelValues(outcome).Observe(d.Seconds())
}
