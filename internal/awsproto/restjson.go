package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// RequestIDHeader is where AWS rest-json services return the request id;
// the SDKs surface it as ResponseMetadata.RequestId.
const RequestIDHeader = "X-Amzn-Requestid"

// WriteJSON writes a rest-json success response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Response types are plain structs; failing here is a bug.
		panic(fmt.Sprintf("awsproto: marshalling response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// errorBody is the rest-json error document. The SDKs read the exception
// name from X-Amzn-ErrorType and the text from "message".
type errorBody struct {
	Message string `json:"message"`
}

// WriteRESTJSONError writes err as dialect's exception. Internal errors get
// a generic message carrying the request id; the caller logs the cause.
func WriteRESTJSONError(w http.ResponseWriter, d Dialect, err error, requestID string) {
	we, _ := Lookup(d, pi.ErrorCode(err))
	msg := ClientMessage(err, requestID)
	w.Header().Set("X-Amzn-ErrorType", we.Type)
	WriteJSON(w, we.Status, errorBody{Message: msg})
}

// ClientMessage is the message a client may see for err.
func ClientMessage(err error, requestID string) string {
	switch pi.ErrorCode(err) {
	case pi.CodeInternal:
		return "An internal error occurred. Request ID: " + requestID
	case pi.CodeUnavailable:
		return "The service is temporarily unavailable; retry the request. Request ID: " + requestID
	}
	return pi.ErrorMessage(err)
}

// ReadBody reads at most max bytes of a request body; a larger body is an
// InvalidRequest error, never a partial read.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, pi.Errorf(pi.CodeInvalidRequest, "The request body is larger than %d bytes.", max)
	}
	if err != nil {
		return nil, pi.Errorf(pi.CodeInvalidRequest, "The request body could not be read.")
	}
	return b, nil
}

// DecodeJSON decodes a rest-json request body into v strictly: members the
// operation does not define, duplicate keys, values of the wrong type,
// nesting deeper than any AWS shape and trailing data are all refused with
// a message that names the member. An empty body decodes as {}.
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := checkJSONStructure(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return pi.Errorf(pi.CodeInvalidRequest, "The request body has data after the JSON document.")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return pi.Errorf(pi.CodeInvalidRequest, "The request body must be a JSON object.")
		}
		return pi.Errorf(pi.CodeInvalidParameter, "Member %s must be of type %s, not a JSON %s.", field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return pi.Errorf(pi.CodeInvalidRequest, "Unknown member %s in the request body.", msg)
	}
	return pi.Errorf(pi.CodeInvalidRequest, "The request body is not valid JSON.")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice":
		return "list"
	case "ptr":
		return "a value"
	}
	return "number"
}

// maxJSONDepth bounds nesting: the deepest request shape is two levels.
const maxJSONDepth = 16

// checkJSONStructure walks the document once to refuse what
// encoding/json would accept silently: duplicate keys (the last would win,
// so two parties could read one request two ways) and absurd nesting.
func checkJSONStructure(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		keys    map[string]struct{}
		keyNext bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return pi.Errorf(pi.CodeInvalidRequest, "The request body is not valid JSON.")
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		// In an object, every other string token is a key.
		if top != nil && top.object && top.keyNext {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key, _ := tok.(string)
			if _, dup := top.keys[key]; dup {
				return pi.Errorf(pi.CodeInvalidRequest, "Duplicate member %q in the request body.", clipKey(key))
			}
			top.keys[key] = struct{}{}
			top.keyNext = false
			continue
		}
		if top != nil && top.object {
			top.keyNext = true
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return pi.Errorf(pi.CodeInvalidRequest, "The request body is nested too deeply.")
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keys: map[string]struct{}{}, keyNext: true})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

func clipKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "..."
	}
	return k
}

// EpochSeconds is a timestamp that rest-json services send as Unix epoch
// seconds with a fractional part, as EKS does.
type EpochSeconds time.Time

// MarshalJSON implements json.Marshaler.
func (t EpochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}
