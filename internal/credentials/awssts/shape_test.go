package awssts_test

import (
	"context"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// shaped adds what an association's reserved tags ask for: a stable name,
// a transitive custom tag and one that is not.
func shaped(r *podidentity.CredentialRequest) {
	r.SessionName, r.StableSessionName = "prod-shop-cart", true
	r.SessionTags = maps.Clone(r.SessionTags)
	r.SessionTags["team"], r.SessionTags["cost-center"] = "payments", "cc-42"
	r.TransitiveTagKeys = append(append([]string{}, sortedTagKeys...), "team")
}

func TestSTSBackendSessionShape(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	req := request(chained, shaped)
	if _, err := iss.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d AssumeRole calls, want 2", len(calls))
	}
	first, second := calls[0], calls[1]
	if first.Params.Get("RoleSessionName") != "prod-shop-cart" || second.Params.Get("RoleSessionName") != "prod-shop-cart" {
		t.Errorf("session names %q, %q", first.Params.Get("RoleSessionName"), second.Params.Get("RoleSessionName"))
	}
	if diff := cmp.Diff(req.SessionTags, first.Tags()); diff != "" {
		t.Errorf("first call tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(req.TransitiveTagKeys, first.TransitiveTagKeys()); diff != "" {
		t.Errorf("first call transitive keys (-want +got):\n%s", diff)
	}
	// Transitive tags follow by themselves; the rest are sent again so the
	// target role's session has them too.
	if diff := cmp.Diff(map[string]string{"cost-center": "cc-42"}, second.Tags()); diff != "" {
		t.Errorf("second call tags (-want +got):\n%s", diff)
	}
	if len(second.TransitiveTagKeys()) != 0 {
		t.Errorf("second call transitive keys %v", second.TransitiveTagKeys())
	}

	// The cache keys on the stable name and on transitivity: either
	// changing means a new session; the same request reuses it.
	if _, err := iss.Issue(context.Background(), request(chained, shaped)); err != nil || len(f.Calls()) != 2 {
		t.Fatalf("same shape: %v, %d calls; want the cached credentials", err, len(f.Calls()))
	}
	for name, mod := range map[string]func(*podidentity.CredentialRequest){
		"name":       func(r *podidentity.CredentialRequest) { r.SessionName = "other-name" },
		"transitive": func(r *podidentity.CredentialRequest) { r.TransitiveTagKeys = r.TransitiveTagKeys[:6] },
	} {
		before := len(f.Calls())
		if _, err := iss.Issue(context.Background(), request(chained, shaped, mod)); err != nil {
			t.Fatal(err)
		}
		if len(f.Calls()) == before {
			t.Errorf("changed %s: served from the cache", name)
		}
	}
}
