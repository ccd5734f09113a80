package local_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/credentials/session"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// t0 has a fractional second on purpose: expirations must come out whole.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 500_000_000, time.UTC)

// testKey is a fixed key, so that tokens in testdata stay openable.
func testKey(id string, fill byte) local.Key {
	return local.Key{ID: id, Secret: bytes.Repeat([]byte{fill}, local.SecretSize)}
}

func keyring(t testing.TB, keys ...local.Key) *local.Keyring {
	t.Helper()
	kr, err := local.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newIssuer(t testing.TB, kr *local.Keyring, now func() time.Time) *local.Issuer {
	t.Helper()
	iss, err := local.NewIssuer(local.Config{Keyring: kr, Now: now, Rand: rand.NewChaCha8([32]byte{1})})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// typicalRequest is a request as the server builds it for a pod: the six
// EKS tags, a generated session name, no target role.
func typicalRequest(t testing.TB) *podidentity.CredentialRequest {
	t.Helper()
	cluster := podidentity.Cluster{Name: "prod-eu-west-1", ARN: "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu-west-1"}
	pod := podidentity.PodIdentity{
		Cluster: cluster.Name, Namespace: "payments", ServiceAccount: "payments-api",
		PodName: "payments-api-7f9c6d5b8-x2k4q", PodUID: "8d3c6f0e-5b1a-4c2e-9f47-1a2b3c4d5e6f",
	}
	name, err := session.Name(cluster.Name, pod.PodName, rand.NewChaCha8([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	return &podidentity.CredentialRequest{
		Cluster: cluster,
		Association: podidentity.Association{
			ClusterName: cluster.Name, AssociationID: "a-0123456789abcdefg",
			Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount,
			RoleARN: "arn:aws:iam::111122223333:role/workloads/PaymentsApi",
		},
		Pod:         pod,
		SessionName: name,
		SessionTags: podidentity.SessionTags(&cluster, &pod),
		Duration:    6 * time.Hour,
	}
}

func wantCode(t testing.TB, err error, want podidentity.Code) {
	t.Helper()
	var e *podidentity.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *podidentity.Error with code %s", err, err, want)
	}
	if e.Code != want {
		t.Fatalf("error code = %s (%v), want %s", e.Code, err, want)
	}
}

// wantKind fails t unless err is a *sigv4.Error of the wanted kind: what
// a SigV4 verifier passes through to the client.
func wantKind(t testing.TB, err error, want sigv4.Kind) {
	t.Helper()
	if got := sigv4.KindOf(err); got != want {
		t.Fatalf("error = %v (%T), want a *sigv4.Error of kind %s", err, err, want)
	}
}

// refusal is the client-facing message of a *sigv4.Error, "" for others.
func refusal(err error) string {
	if e, ok := errors.AsType[*sigv4.Error](err); ok {
		return e.Message
	}
	return ""
}
