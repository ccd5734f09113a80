package satoken

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/podidentity/podidentity/internal/testenv"
)

// kube-apiserver negotiates content types strictly: its discovery document
// is application/json and its JWKS application/jwk-set+json, and a request
// whose Accept names neither gets 406. Found against a real kube-apiserver
// (test/kube); this handler does what it does.
func TestDiscoveryContentNegotiation(t *testing.T) {
	clk := newClock()
	key := newRSASigner(t, "k1")
	accepts := func(r *http.Request, mediaType string) bool {
		for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if mt == mediaType || mt == "*/*" {
				return true
			}
		}
		return false
	}
	var issuer string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if !accepts(r, "application/json") {
			http.Error(w, "406: Not Acceptable", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "jwks_uri": issuer + "/openid/v1/jwks"})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		if !accepts(r, "application/jwk-set+json") {
			http.Error(w, "406: Not Acceptable", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwksJSON(t, key))
	})
	srv, caFile := testenv.TLSServer(t, mux)
	issuer = srv.URL

	claims := validClaims(clk.Now())
	claims["iss"] = issuer
	tok := key.mint(t, claims)
	v := newValidator(t, clk, Options{}, ClusterConfig{Name: testCluster, Issuer: issuer, Discovery: true, CAFile: caFile})
	if _, err := v.Validate(context.Background(), testCluster, tok); err != nil {
		t.Fatalf("Validate against kube-apiserver's content negotiation: %v", err)
	}
}
