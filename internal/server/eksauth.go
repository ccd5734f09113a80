package server

import (
	"net/http"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func (s *Server) eksAuthRoutes() {
	s.mux.Handle("POST /clusters/{clusterName}/assume-role-for-pod-identity", s.operation(op{
		name: "AssumeRoleForPodIdentity", dialect: awsproto.EKSAuth, service: "eks-auth", action: "eks-auth:AssumeRoleForPodIdentity",
		scope: func(r *http.Request) (string, string) {
			name := r.PathValue("clusterName")
			return name, s.svc.ClusterARN(name)
		},
		// The token in the body is what the pod-token path authenticates
		// by: AssumeRoleForPodIdentity validates it (with TokenReview, which
		// the configuration requires for such clusters) before anything.
		podToken: true,
	}, s.assumeRoleForPodIdentity))
}

// assumeRoleRequest is the EKS Auth request body. eksNodeName, instanceId
// and zone are sent by newer AWS node agents and are kept for auditing.
type assumeRoleRequest struct {
	Token       *string `json:"token"`
	EKSNodeName string  `json:"eksNodeName"`
	InstanceID  string  `json:"instanceId"`
	Zone        string  `json:"zone"`
}

type assumeRoleResponse struct {
	Subject                subject         `json:"subject"`
	Audience               string          `json:"audience"`
	PodIdentityAssociation associationRef  `json:"podIdentityAssociation"`
	AssumedRoleUser        assumedRoleUser `json:"assumedRoleUser"`
	Credentials            credentialsWire `json:"credentials"`
}

type subject struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

type associationRef struct {
	AssociationARN string `json:"associationArn"`
	AssociationID  string `json:"associationId"`
}

type assumedRoleUser struct {
	ARN          string `json:"arn"`
	AssumeRoleID string `json:"assumeRoleId"`
}

type credentialsWire struct {
	SessionToken    string                `json:"sessionToken"`
	SecretAccessKey string                `json:"secretAccessKey"`
	AccessKeyID     string                `json:"accessKeyId"`
	Expiration      awsproto.EpochSeconds `json:"expiration"`
}

func (s *Server) assumeRoleForPodIdentity(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req assumeRoleRequest
	if err := awsproto.DecodeJSONAllowUnknown(body, &req); err != nil {
		return err
	}
	if req.Token == nil {
		return errMissing("token")
	}
	out, err := s.svc.AssumeRoleForPodIdentity(r.Context(), pi.AssumeRoleInput{
		ClusterName: r.PathValue("clusterName"),
		Token:       *req.Token,
		NodeName:    req.EKSNodeName,
		InstanceID:  req.InstanceID,
		Zone:        req.Zone,
	})
	if err != nil {
		return err
	}
	c := out.Credentials
	awsproto.WriteJSON(w, http.StatusOK, assumeRoleResponse{
		Subject:                subject{Namespace: out.Namespace, ServiceAccount: out.ServiceAccount},
		Audience:               pi.Audience,
		PodIdentityAssociation: associationRef{AssociationARN: out.AssociationARN, AssociationID: out.AssociationID},
		AssumedRoleUser:        assumedRoleUser{ARN: c.AssumedRoleARN, AssumeRoleID: c.AssumedRoleID},
		Credentials: credentialsWire{
			SessionToken:    c.SessionToken,
			SecretAccessKey: c.SecretAccessKey,
			AccessKeyID:     c.AccessKeyID,
			Expiration:      awsproto.EpochSeconds(c.Expiration),
		},
	})
	return nil
}
