package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

const (
	testAccount = "111122223333"
	testRole    = "arn:aws:iam::111122223333:role/app"
)

type testEnv struct {
	url   string
	eks   *eks.Client
	store pi.Store
}

type envOption func(*pi.ServiceConfig)

func withLimit(n int) envOption { return func(c *pi.ServiceConfig) { c.AssociationLimit = n } }

// newEnv starts the real handler on a SQLite file behind httptest and
// returns an aws-sdk-go-v2 EKS client pointed at it.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := pi.ServiceConfig{
		Store:     store,
		Region:    "us-west-2",
		AccountID: testAccount,
		Clusters: []pi.ClusterSpec{
			{Name: "demo", Issuer: "https://issuer.example/demo", Endpoint: "https://10.0.0.1:6443"},
			{Name: "other", Issuer: "https://issuer.example/other"},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := pi.NewService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ts := httptest.NewServer(New(Config{Service: svc, Store: store, Logger: log}))
	t.Cleanup(ts.Close)
	client := eks.New(eks.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(ts.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:       ts.Client(),
		RetryMaxAttempts: 1,
	})
	return &testEnv{url: ts.URL, eks: client, store: store}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

func do(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	var req *http.Request
	var err error
	if body == "" {
		req, err = http.NewRequest(method, url, nil)
	} else {
		req, err = http.NewRequest(method, url, stringsReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
