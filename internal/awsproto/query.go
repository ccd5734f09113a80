package awsproto

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// STSNamespace is the XML namespace of STS responses.
const STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// QueryParams returns the parameters of an AWS query-protocol request: the
// form body of a POST, or the URL query of a GET. A parameter given twice,
// in one place or in both the URL and the body, is refused: which value
// counts would otherwise be up to chance, and a presigned URL's holder
// could add to its body a parameter the signer put in the URL.
func QueryParams(r *http.Request, body []byte) (url.Values, error) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		raw = string(body)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, pi.Errorf(pi.CodeInvalidParameter, "The request parameters are not valid URL encoding.")
	}
	if r.Method == http.MethodPost {
		// Presigned POSTs carry auth in the URL and the action in the body.
		for k, vs := range r.URL.Query() {
			if _, dup := v[k]; dup {
				return nil, pi.Errorf(pi.CodeInvalidParameter, "Parameter %s is given in both the URL and the body; give it once.", clipKey(k))
			}
			v[k] = vs
		}
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, pi.Errorf(pi.CodeInvalidParameter, "Parameter %s is given %d times.", clipKey(k), len(vs))
		}
	}
	return v, nil
}

type queryError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     queryErrorDetail
	RequestID string `xml:"RequestId"`
}

type queryErrorDetail struct {
	Type    string
	Code    string
	Message string
}

// WriteQueryError writes err as an STS query-protocol error document.
func WriteQueryError(w http.ResponseWriter, err error, requestID string) {
	we, _ := Lookup(STS, ErrorCode(err))
	kind := "Sender"
	if we.Status >= 500 {
		kind = "Receiver"
	}
	writeXML(w, we.Status, queryError{
		Xmlns:     STSNamespace,
		Error:     queryErrorDetail{Type: kind, Code: we.Type, Message: ClientMessage(err, requestID)},
		RequestID: requestID,
	})
}

// ResponseMetadata ends every query-protocol response.
type ResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// WriteQueryResponse writes a query-protocol success document.
func WriteQueryResponse(w http.ResponseWriter, v any) {
	writeXML(w, http.StatusOK, v)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("awsproto: marshalling XML response: %v", err))
	}
	b = append([]byte(xml.Header), b...)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
