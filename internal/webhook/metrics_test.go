package webhook

import (
	"errors"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHandlerMetrics: each way a review can end is counted once, under its
// own result, and lookups are timed by outcome.
func TestHandlerMetrics(t *testing.T) {
	assoc := &fakeAssociations{has: map[string]bool{"shop/web": true}}
	newHandler := func(failClosed bool) *Handler {
		h, err := NewHandler(Config{Associations: assoc, FailClosed: failClosed, Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h, closed := newHandler(false), newHandler(true)
	raw, _ := loadPod(t, "testdata/mutate/existing-lists.pod.yaml")

	resp := admit(t, h, reviewFor(t, "shop", raw))
	mutated, err := applyPatch(raw, resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	admit(t, h, reviewFor(t, "shop", mutated)) // reinvoked: nothing to inject
	admit(t, h, reviewFor(t, "other", raw))    // no association
	assoc.mu.Lock()
	assoc.err = errors.New("server down")
	assoc.mu.Unlock()
	admit(t, h, reviewFor(t, "elsewhere", raw))
	admit(t, closed, reviewFor(t, "elsewhere", raw))
	if resp, _ := post(t, h, "application/json", []byte(`{"kind":`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed review: %s", resp.Status)
	}

	for result, want := range map[string]float64{
		resultMutated: 1, resultNothingToInject: 1, resultNoAssociation: 1, resultFailedOpen: 1, resultMalformed: 1,
	} {
		if got := testutil.ToFloat64(h.metrics.admissions.WithLabelValues(result)); got != want {
			t.Errorf("admissions{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(closed.metrics.admissions.WithLabelValues(resultRefused)); got != 1 {
		t.Errorf("admissions{result=refused} = %v on the fail-closed handler, want 1", got)
	}
	// Three lookups on h (the reinvocation needed none): two answered, one failed.
	if got := testutil.CollectAndCount(h.metrics.lookups); got != 2 {
		t.Errorf("%d lookup outcomes observed, want ok and error", got)
	}
}
