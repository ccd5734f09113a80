package server

import (
	"context"
	"net/http"
	"time"

	"github.com/podidentity/podidentity/internal/awsproto"
)

// DevTokenMinter mints pod-bound service-account tokens for a --dev
// server's clusters, whose signing keys only that process holds.
type DevTokenMinter interface {
	MintToken(ctx context.Context, req DevTokenRequest) (string, error)
}

// DevTokenRequest asks for a token for a pod.
type DevTokenRequest struct {
	Cluster        string        `json:"cluster"`
	Namespace      string        `json:"namespace"`
	ServiceAccount string        `json:"serviceAccount"`
	PodName        string        `json:"podName"`
	TTL            time.Duration `json:"ttlSeconds"`
	// Audience is the token's aud; empty means pods.eks.amazonaws.com.
	// Another one lets a tester see EKS Auth refuse it.
	Audience string `json:"audience"`
}

type devTokenWire struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	PodName        string `json:"podName"`
	TTLSeconds     int64  `json:"ttlSeconds"`
	Audience       string `json:"audience"`
}

func (s *Server) devToken(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req devTokenWire
	if err := awsproto.DecodeJSON(body, &req); err != nil {
		return err
	}
	if _, err := s.svc.Cluster(req.Cluster); err != nil {
		return err
	}
	tok, err := s.devTokens.MintToken(r.Context(), DevTokenRequest{
		Cluster: req.Cluster, Namespace: req.Namespace, ServiceAccount: req.ServiceAccount,
		PodName: req.PodName, TTL: time.Duration(req.TTLSeconds) * time.Second, Audience: req.Audience,
	})
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, map[string]string{"token": tok})
	return nil
}
