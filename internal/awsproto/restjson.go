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
	"unicode/utf8"

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
	we, _ := Lookup(d, ErrorCode(err))
	msg := ClientMessage(err, requestID)
	w.Header().Set("X-Amzn-ErrorType", we.Type)
	WriteJSON(w, we.Status, errorBody{Message: msg})
}

// ClientMessage is the message a client may see for err.
func ClientMessage(err error, requestID string) string {
	switch ErrorCode(err) {
	case pi.CodeInternal:
		return "An internal error occurred. Request ID: " + requestID
	case pi.CodeUnavailable:
		return "The service is temporarily unavailable; retry the request. Request ID: " + requestID
	}
	return errorMessage(err)
}

// ReadBody reads at most max bytes of a request body; a larger body is an
// InvalidRequest error, never a partial read.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAll(http.MaxBytesReader(nil, r.Body, max), r.ContentLength, max)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, pi.Errorf(pi.CodeInvalidRequest, "The request body is larger than %d bytes.", max)
	}
	if err != nil {
		return nil, pi.Errorf(pi.CodeInvalidRequest, "The request body could not be read.")
	}
	return b, nil
}

// readAll is io.ReadAll with its buffer sized from the declared length
// (one byte over, to see the end without growing), so a typical request
// body is read into one allocation instead of a doubling series. The
// declared length is only a hint: the reader enforces the limit, and the
// buffer grows with the bytes that actually arrive past preallocCap, so a
// client cannot make the server reserve memory by claiming a large body
// and sending little.
func readAll(r io.Reader, declared, max int64) ([]byte, error) {
	const preallocCap = 16 << 10
	size := int64(512)
	if declared > 0 {
		size = min(declared, max, preallocCap) + 1
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// DecodeJSON decodes a rest-json request body into v strictly: members the
// operation does not define, duplicate keys, values of the wrong type,
// nesting deeper than any AWS shape and trailing data are all refused with
// a message that names the member. An empty body decodes as {}.
func DecodeJSON(body []byte, v any) error {
	return decodeJSON(body, v, true)
}

// DecodeJSONAllowUnknown is DecodeJSON for requests whose senders add
// members over time (the EKS Pod Identity Agent has, more than once):
// unknown members are ignored rather than refused, so a newer agent keeps
// working. Everything else is as strict.
func DecodeJSONAllowUnknown(body []byte, v any) error {
	return decodeJSON(body, v, false)
}

func decodeJSON(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := checkJSONStructure(body); err != nil {
		return err
	}
	if !strict {
		// json.Unmarshal reads body in place; a Decoder would copy it first.
		if err := json.Unmarshal(body, v); err != nil {
			if strings.Contains(err.Error(), "after top-level value") {
				return pi.Errorf(pi.CodeInvalidRequest, "The request body has data after the JSON document.")
			}
			return decodeError(err)
		}
		return nil
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

// checkJSONStructure scans the document once, byte by byte, to refuse what
// encoding/json would accept silently: duplicate keys (the last would win,
// so two parties could read one request two ways) and absurd nesting. It
// does not validate syntax; the decoder that runs next does. It allocates
// only for keys, so a request carrying a large token costs one pass.
func checkJSONStructure(b []byte) error {
	stack := make([]jsonFrame, 0, 4)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, escaped := stringEnd(b, i+1)
			if end < 0 {
				return nil // unterminated: the decoder reports it
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				top := &stack[n-1]
				top.expectKey = false
				key := string(b[i+1 : end])
				// Decode as the decoder will: escapes, and invalid UTF-8
				// becoming U+FFFD, so "\xe1" and "\xa7" are the same member.
				if escaped || !utf8.ValidString(key) {
					if err := json.Unmarshal(b[i:end+1], &key); err != nil {
						return nil
					}
				}
				if top.has(key) {
					return pi.Errorf(pi.CodeInvalidRequest, "Duplicate member %q in the request body.", clipKey(key))
				}
				top.add(key)
			}
			i = end
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return pi.Errorf(pi.CodeInvalidRequest, "The request body is nested too deeply.")
			}
			stack = append(stack, jsonFrame{object: b[i] == '{', expectKey: b[i] == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		}
	}
	return nil
}

// stringEnd returns the index of the quote closing the string whose
// contents start at i, and whether it contains escapes; -1 if unterminated.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i, escaped
		}
	}
	return -1, escaped
}

// jsonFrame is one open object or array.
type jsonFrame struct {
	object    bool
	expectKey bool
	keys      []string
	keySet    map[string]struct{} // once keys outgrow a linear scan
}

// linearKeys is where key lookup switches from a scan to a map, so that an
// object with thousands of keys costs linear, not quadratic, time.
const linearKeys = 16

func (f *jsonFrame) has(k string) bool {
	if f.keySet != nil {
		_, ok := f.keySet[k]
		return ok
	}
	for _, have := range f.keys {
		if have == k {
			return true
		}
	}
	return false
}

func (f *jsonFrame) add(k string) {
	if f.keySet == nil && len(f.keys) < linearKeys {
		f.keys = append(f.keys, k)
		return
	}
	if f.keySet == nil {
		f.keySet = make(map[string]struct{}, 2*linearKeys)
		for _, have := range f.keys {
			f.keySet[have] = struct{}{}
		}
		f.keys = nil
	}
	f.keySet[k] = struct{}{}
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
