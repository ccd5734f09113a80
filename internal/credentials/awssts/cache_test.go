package awssts

import (
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/podidentity"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSTSBackendRefreshAt(t *testing.T) {
	for _, tt := range []struct {
		name    string
		expires time.Time
		want    time.Time
		ok      bool
	}{
		{"6h", t0.Add(6 * time.Hour), t0.Add(3 * time.Hour), true},
		{"1h", t0.Add(time.Hour), t0.Add(30 * time.Minute), true},
		{"odd nanoseconds round down", t0.Add(3), t0.Add(1), true},
		{"one nanosecond", t0.Add(1), t0, true},
		{"expires as issued", t0, time.Time{}, false},
		{"already expired", t0.Add(-time.Minute), time.Time{}, false},
	} {
		got, ok := refreshAt(t0, tt.expires)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("%s: refreshAt = %s, %v; want %s, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func creds(id string, expires time.Time) *podidentity.IssuedCredentials {
	return &podidentity.IssuedCredentials{AccessKeyID: id, Expiration: expires}
}

func TestSTSBackendCacheGetPut(t *testing.T) {
	c := newCache(10)
	k := cacheKey{1}
	c.put(k, creds("A", t0.Add(time.Hour)), t0)
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{
		{t0, true},
		{t0.Add(30*time.Minute - time.Nanosecond), true},
		{t0.Add(30 * time.Minute), false},
		{t0.Add(2 * time.Hour), false},
	} {
		got, ok := c.get(k, tt.at)
		if ok != tt.ok || ok && got.AccessKeyID != "A" {
			t.Errorf("get at +%s = %v, %v; want ok=%v", tt.at.Sub(t0), got.AccessKeyID, ok, tt.ok)
		}
	}
	if _, ok := c.get(cacheKey{2}, t0); ok {
		t.Error("get of an absent key succeeded")
	}
	// Credentials that are expired by our clock are not kept at all.
	c.put(cacheKey{3}, creds("B", t0.Add(-time.Second)), t0)
	if _, ok := c.get(cacheKey{3}, t0.Add(-time.Hour)); ok {
		t.Error("expired credentials were cached")
	}
	// A later put replaces.
	c.put(k, creds("C", t0.Add(2*time.Hour)), t0.Add(40*time.Minute))
	if got, ok := c.get(k, t0.Add(time.Hour)); !ok || got.AccessKeyID != "C" {
		t.Errorf("after replacing: %v, %v", got.AccessKeyID, ok)
	}
}

func TestSTSBackendCacheDisabled(t *testing.T) {
	c := newCache(-1)
	c.put(cacheKey{1}, creds("A", t0.Add(time.Hour)), t0)
	if _, ok := c.get(cacheKey{1}, t0); ok || c.len() != 0 {
		t.Error("a cache with a negative bound kept an entry")
	}
}

func TestSTSBackendCacheBounded(t *testing.T) {
	c := newCache(3)
	for i := range 10 {
		c.put(cacheKey{byte(i)}, creds("X", t0.Add(time.Hour)), t0)
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries, bound 3", n)
		}
	}
	// The newest entry is always kept.
	if _, ok := c.get(cacheKey{9}, t0); !ok {
		t.Error("the newest entry was evicted")
	}
}

func TestSTSBackendCacheSweep(t *testing.T) {
	c := newCache(100)
	for i := range 5 {
		c.put(cacheKey{byte(i)}, creds("X", t0.Add(time.Hour)), t0)
	}
	// An hour later all five are past their refresh instant; the next put
	// sweeps them out.
	c.put(cacheKey{99}, creds("Y", t0.Add(2*time.Hour)), t0.Add(time.Hour))
	if n := c.len(); n != 1 {
		t.Errorf("%d entries after the sweep, want 1", n)
	}
}

func TestSTSBackendKeyOf(t *testing.T) {
	base := func() *podidentity.CredentialRequest {
		return &podidentity.CredentialRequest{
			Cluster:     podidentity.Cluster{Name: "prod"},
			Association: podidentity.Association{AssociationID: "a-1", RoleARN: "arn:aws:iam::111122223333:role/r"},
			Pod:         podidentity.PodIdentity{Namespace: "ns", ServiceAccount: "sa", PodName: "p", PodUID: "u"},
			SessionName: "eks-prod-p-1",
			SessionTags: map[string]string{"a": "1", "b": "2"},
			Duration:    time.Hour,
		}
	}
	k0 := keyOf(base())
	same := base()
	same.SessionName = "eks-prod-p-2"
	same.SessionTags = map[string]string{"b": "2", "a": "1"}
	same.Pod.Subject = "ignored"
	if keyOf(same) != k0 {
		t.Error("session name or tag order changed the key")
	}
	for name, mod := range map[string]func(r *podidentity.CredentialRequest){
		"cluster":        func(r *podidentity.CredentialRequest) { r.Cluster.Name = "other" },
		"association":    func(r *podidentity.CredentialRequest) { r.Association.AssociationID = "a-2" },
		"role":           func(r *podidentity.CredentialRequest) { r.Association.RoleARN += "x" },
		"target":         func(r *podidentity.CredentialRequest) { r.Association.TargetRoleARN = "t" },
		"external id":    func(r *podidentity.CredentialRequest) { r.Association.ExternalID = "e" },
		"policy":         func(r *podidentity.CredentialRequest) { r.Association.Policy = "{}" },
		"namespace":      func(r *podidentity.CredentialRequest) { r.Pod.Namespace = "x" },
		"sa":             func(r *podidentity.CredentialRequest) { r.Pod.ServiceAccount = "x" },
		"pod":            func(r *podidentity.CredentialRequest) { r.Pod.PodName = "x" },
		"pod uid":        func(r *podidentity.CredentialRequest) { r.Pod.PodUID = "x" },
		"duration":       func(r *podidentity.CredentialRequest) { r.Duration = 2 * time.Hour },
		"tag value":      func(r *podidentity.CredentialRequest) { r.SessionTags["a"] = "3" },
		"tags disabled":  func(r *podidentity.CredentialRequest) { r.SessionTags = nil },
		"tags empty":     func(r *podidentity.CredentialRequest) { r.SessionTags = map[string]string{} },
		"field boundary": func(r *podidentity.CredentialRequest) { r.Pod.Namespace, r.Pod.ServiceAccount = "nss", "a" },
	} {
		r := base()
		mod(r)
		if keyOf(r) == k0 {
			t.Errorf("changing the %s left the key unchanged", name)
		}
	}
	r := base()
	r.SessionTags = nil
	e := base()
	e.SessionTags = map[string]string{}
	if keyOf(r) == keyOf(e) {
		t.Error("disabled and empty tags share a key")
	}
}
