package server

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/podidentity/podidentity/internal/authz"
	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// STS speaks the query protocol at the root path, as sts.amazonaws.com does.
func (s *Server) stsRoutes() {
	// Any authenticated caller may ask who it is, as in AWS, where no
	// policy can deny GetCallerIdentity; other actions are unknown here.
	h := s.operation(op{name: "STS", dialect: awsproto.STS, service: "sts", nameFrom: stsOperation}, s.stsAction)
	s.mux.Handle("POST /{$}", h)
	s.mux.Handle("GET /{$}", h)
}

const stsVersion = "2011-06-15"

// stsOperation names an STS request by its action, as the client and
// CloudTrail do: GetCallerIdentity, or Unknown for any other action (never
// the action as sent: it becomes a metric label).
func stsOperation(r *http.Request, body []byte) string {
	params, err := awsproto.QueryParams(r, body)
	if err == nil && params.Get("Action") == "GetCallerIdentity" {
		return "GetCallerIdentity"
	}
	return "Unknown"
}

func (s *Server) stsAction(w http.ResponseWriter, r *http.Request, body []byte) error {
	params, err := awsproto.QueryParams(r, body)
	if err != nil {
		return err
	}
	if v := params.Get("Version"); v != "" && v != stsVersion {
		return pi.Errorf(pi.CodeInvalidParameter, "Version %q is not supported; use %s.", v, stsVersion)
	}
	switch action := params.Get("Action"); action {
	case "GetCallerIdentity":
		return s.getCallerIdentity(w, callerFrom(r.Context()))
	case "":
		return pi.Errorf(awsproto.CodeUnknownOperation, "Missing Action parameter.")
	default:
		return pi.Errorf(awsproto.CodeUnknownOperation, "Could not find operation %s for version %s.", clipPath(action), stsVersion)
	}
}

var errNoIdentity = errors.New("the caller has no identity to report")

type getCallerIdentityResponse struct {
	XMLName          xml.Name                  `xml:"GetCallerIdentityResponse"`
	Xmlns            string                    `xml:"xmlns,attr"`
	Result           callerIdentity            `xml:"GetCallerIdentityResult"`
	ResponseMetadata awsproto.ResponseMetadata `xml:"ResponseMetadata"`
}

type callerIdentity struct {
	Arn     string
	UserID  string `xml:"UserId"`
	Account string
}

func (s *Server) getCallerIdentity(w http.ResponseWriter, caller authz.Caller) error {
	if caller == nil {
		return pi.Internal(errNoIdentity)
	}
	var id callerIdentity
	id.Arn, id.UserID, id.Account = caller.Identity()
	if id.Arn == "" {
		return pi.Internal(errNoIdentity)
	}
	awsproto.WriteQueryResponse(w, getCallerIdentityResponse{
		Xmlns:            awsproto.STSNamespace,
		Result:           id,
		ResponseMetadata: awsproto.ResponseMetadata{RequestID: w.Header().Get(awsproto.RequestIDHeader)},
	})
	return nil
}
