package server

import (
	"encoding/xml"
	"net/http"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// STS speaks the query protocol at the root path, as sts.amazonaws.com does.
func (s *Server) stsRoutes() {
	h := s.operation("STS", awsproto.STS, s.stsAction)
	s.mux.Handle("POST /{$}", h)
	s.mux.Handle("GET /{$}", h)
}

const stsVersion = "2011-06-15"

func (s *Server) stsAction(w http.ResponseWriter, r *http.Request) error {
	body, err := awsproto.ReadBody(r, maxBodyBytes)
	if err != nil {
		return err
	}
	params, err := awsproto.QueryParams(r, body)
	if err != nil {
		return err
	}
	// Authenticate before looking at the action, as AWS does: an
	// unauthenticated caller learns nothing about what is implemented.
	res, err := s.stsAuth.Verify(r.Context(), r, body, "sts")
	if err != nil {
		return err
	}
	if v := params.Get("Version"); v != "" && v != stsVersion {
		return pi.Errorf(pi.CodeInvalidParameter, "Version %q is not supported; use %s.", v, stsVersion)
	}
	switch action := params.Get("Action"); action {
	case "GetCallerIdentity":
		return s.getCallerIdentity(w, r, res.Principal)
	case "":
		return pi.Errorf(pi.CodeUnknownOperation, "Missing Action parameter.")
	default:
		return pi.Errorf(pi.CodeUnknownOperation, "Could not find operation %s for version %s.", clipPath(action), stsVersion)
	}
}

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

func (s *Server) getCallerIdentity(w http.ResponseWriter, r *http.Request, principal any) error {
	p, ok := principal.(*pi.SessionPrincipal)
	if !ok {
		return pi.Internal(errUnknownPrincipal)
	}
	awsproto.WriteQueryResponse(w, getCallerIdentityResponse{
		Xmlns:            awsproto.STSNamespace,
		Result:           callerIdentity{Arn: p.AssumedRoleARN, UserID: p.AssumedRoleID, Account: p.AccountID},
		ResponseMetadata: awsproto.ResponseMetadata{RequestID: w.Header().Get(awsproto.RequestIDHeader)},
	})
	return nil
}
