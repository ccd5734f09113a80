package podidentity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// TestAuditLine: every issued credential gets one audit line naming the
// pod, the association, the role and the access key id, and no secret.
func TestAuditLine(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	pod := pi.PodIdentity{Cluster: "demo", Namespace: "ns", ServiceAccount: "sa", PodName: "web-0", PodUID: "uid-1"}
	svc, _ := newAssumeServiceWith(t, podTokens{"tok": pod}, func(c *pi.ServiceConfig) {
		c.Credentials.Auditor = pi.LogAuditor{Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	})
	a, err := svc.CreateAssociation(ctx, pi.CreateAssociationInput{ClusterName: "demo", Namespace: "ns", ServiceAccount: "sa", RoleARN: "arn:aws:iam::111122223333:role/r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssumeRoleForPodIdentity(ctx, pi.AssumeRoleInput{ClusterName: "demo", Token: "tok", NodeName: "node-1"}); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("want exactly one JSON audit line, got %q: %v", logs.String(), err)
	}
	for k, want := range map[string]string{
		"msg": "credentials issued", "cluster": "demo", "namespace": "ns", "service_account": "sa", "pod": "web-0",
		"association_id": a.AssociationID, "role_arn": "arn:aws:iam::111122223333:role/r", "access_key_id": "ASIAEXAMPLE", "node": "node-1",
	} {
		if line[k] != want {
			t.Errorf("audit line %s = %v, want %q", k, line[k], want)
		}
	}
	for _, k := range []string{"secret_access_key", "session_token", "token"} {
		if _, ok := line[k]; ok {
			t.Errorf("audit line carries %s", k)
		}
	}
}

// TestCredentialDepsChecked: a service missing a part of the credential
// path fails to start instead of failing its first pod.
func TestCredentialDepsChecked(t *testing.T) {
	for name, deps := range map[string]*pi.CredentialDeps{
		"no validator":    {Issuer: &recordingIssuer{}, SessionName: func(c, p string) string { return c }},
		"no issuer":       {Validator: podTokens{}, SessionName: func(c, p string) string { return c }},
		"no session name": {Validator: podTokens{}, Issuer: &recordingIssuer{}},
	} {
		if _, err := pi.NewService(context.Background(), pi.ServiceConfig{Credentials: deps}); err == nil {
			t.Errorf("%s: NewService accepted it", name)
		}
	}
}
