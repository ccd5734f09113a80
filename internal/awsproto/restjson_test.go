package awsproto

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

type sample struct {
	Name  *string           `json:"name"`
	Count int               `json:"count"`
	Flag  *bool             `json:"flag"`
	Tags  map[string]string `json:"tags"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		body string
		code pi.Code // "" = success
	}{
		{``, ""},
		{`  `, ""},
		{`{}`, ""},
		{`{"name":"x","count":3,"flag":true,"tags":{"a":"b"}}`, ""},
		{`{"name":null}`, ""},
		{`{"name":`, pi.CodeInvalidRequest},
		{`[]`, pi.CodeInvalidRequest},
		{`"str"`, pi.CodeInvalidRequest},
		{`{"other":1}`, pi.CodeInvalidRequest},
		{`{"name":1}`, pi.CodeInvalidParameter},
		{`{"flag":"true"}`, pi.CodeInvalidParameter},
		{`{"count":1e400}`, pi.CodeInvalidParameter},
		{`{"count":1.5}`, pi.CodeInvalidParameter},
		{`{"tags":{"a":1}}`, pi.CodeInvalidParameter},
		{`{"name":"a","name":"b"}`, pi.CodeInvalidRequest},
		{`{"tags":{"a":"1","a":"2"}}`, pi.CodeInvalidRequest},
		{`{"tags":{"a":"1"},"tags":{}}`, pi.CodeInvalidRequest},
		{`{} {}`, pi.CodeInvalidRequest},
		{`{}x`, pi.CodeInvalidRequest},
		{`{"tags":` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 20) + `}`, pi.CodeInvalidRequest},
		{"{\"name\":\"\xff\"}", ""}, // invalid UTF-8 is replaced, as encoding/json does
	}
	for _, tc := range tests {
		var v sample
		err := DecodeJSON([]byte(tc.body), &v)
		if tc.code == "" && err != nil {
			t.Errorf("DecodeJSON(%.40q) = %v, want success", tc.body, err)
		}
		if tc.code != "" && pi.ErrorCode(err) != tc.code {
			t.Errorf("DecodeJSON(%.40q) = %v, want code %s", tc.body, err, tc.code)
		}
		// The lenient decoder takes another path through encoding/json; it
		// must answer every input as the strict one does, unknown members
		// aside.
		var lenient sample
		lerr := DecodeJSONAllowUnknown([]byte(tc.body), &lenient)
		switch {
		case tc.body == `{"other":1}`:
			if lerr != nil {
				t.Errorf("DecodeJSONAllowUnknown(%.40q) = %v, want the unknown member ignored", tc.body, lerr)
			}
		case (err == nil) != (lerr == nil) || err != nil && err.Error() != lerr.Error():
			t.Errorf("DecodeJSONAllowUnknown(%.40q) = %v, DecodeJSON = %v; want the same", tc.body, lerr, err)
		}
	}
}

// A client that claims a large body and sends a small one gets no large
// buffer reserved for it.
func TestReadBodyDoesNotTrustDeclaredLength(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"token":"x"}`))
	r.ContentLength = 4 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	body, err := ReadBody(r, 4<<20)
	runtime.ReadMemStats(&after)
	if err != nil || string(body) != `{"token":"x"}` {
		t.Fatalf("ReadBody = %q, %v", body, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("reading a 13-byte body that claimed 4 MiB allocated %d bytes", n)
	}
}

func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name     string
		declared int64
		max      int64
		want     pi.Code // "" = the whole body
	}{
		{"declared length", 3000, 4096, ""},
		{"unknown length", -1, 4096, ""},
		{"declared too short", 10, 4096, ""},
		{"declared too long", 9000, 4096, ""},
		{"declared far beyond what arrives", 1 << 30, 1 << 31, ""},
		{"exactly the limit", 3000, 3000, ""},
		{"over the limit", 3000, 2999, pi.CodeInvalidRequest},
		{"over the limit, unknown length", -1, 100, pi.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			r.ContentLength = tc.declared
			got, err := ReadBody(r, tc.max)
			if tc.want != "" {
				if pi.ErrorCode(err) != tc.want {
					t.Fatalf("ReadBody = %d bytes, %v; want %s", len(got), err, tc.want)
				}
				return
			}
			if err != nil || string(got) != body {
				t.Fatalf("ReadBody = %d bytes, %v; want the %d-byte body", len(got), err, len(body))
			}
		})
	}
}

func TestErrorTableCoversEveryCode(t *testing.T) {
	// Codes each service can produce must have a wire name of their own,
	// not fall back to the internal error.
	produced := map[Dialect][]pi.Code{
		EKS:     {pi.CodeInvalidParameter, pi.CodeInvalidRequest, pi.CodeIdempotencyMismatch, pi.CodeNotFound, pi.CodeInUse, pi.CodeLimitExceeded, pi.CodeAccessDenied, pi.CodeUnavailable, pi.CodeInternal, CodeMissingAuth, CodeIncompleteSignature, CodeUnrecognizedClient, CodeSignatureMismatch, CodeRequestExpired, CodeUnknownOperation, pi.CodeThrottled, pi.CodeUnsupported},
		EKSTags: {pi.CodeInvalidParameter, pi.CodeInvalidRequest, pi.CodeNotFound, pi.CodeLimitExceeded, pi.CodeAccessDenied, pi.CodeUnavailable, pi.CodeInternal, CodeMissingAuth, CodeSignatureMismatch},
		EKSAuth: {pi.CodeInvalidParameter, pi.CodeInvalidRequest, pi.CodeInvalidToken, pi.CodeExpiredToken, pi.CodeAccessDenied, pi.CodeNotFound, pi.CodeThrottled, pi.CodeUnavailable, pi.CodeInternal, CodeMissingAuth, CodeSignatureMismatch, CodeUnrecognizedClient},
		STS:     {CodeMissingAuth, CodeIncompleteSignature, CodeUnrecognizedClient, CodeInvalidSessionToken, CodeSignatureMismatch, CodeRequestExpired, CodeExpiredSessionToken, CodeUnknownOperation, pi.CodeAccessDenied, pi.CodeInternal},
	}
	for d, codes := range produced {
		for _, c := range codes {
			if _, ok := Lookup(d, c); !ok {
				t.Errorf("dialect %d has no wire error for %s", d, c)
			}
		}
		if we, _ := Lookup(d, "no-such-code"); we.Status != 500 {
			t.Errorf("dialect %d: unknown codes map to %d, want 500", d, we.Status)
		}
	}
	// What the eks-auth model says, to the letter.
	for code, want := range map[pi.Code]WireError{
		pi.CodeAccessDenied: {400, "AccessDeniedException"}, pi.CodeInvalidToken: {400, "InvalidTokenException"},
		pi.CodeExpiredToken: {400, "ExpiredTokenException"}, pi.CodeThrottled: {429, "ThrottlingException"},
		pi.CodeNotFound: {404, "ResourceNotFoundException"}, pi.CodeInternal: {500, "InternalServerException"},
		pi.CodeUnavailable: {503, "ServiceUnavailableException"},
	} {
		if got, _ := Lookup(EKSAuth, code); got != want {
			t.Errorf("eks-auth %s = %+v, want %+v", code, got, want)
		}
	}
}

func TestInternalErrorsHideCauses(t *testing.T) {
	w := httptest.NewRecorder()
	WriteRESTJSONError(w, EKS, pi.Internal(errSecret{}), "req-1")
	body := w.Body.String()
	if w.Code != 500 || w.Header().Get("X-Amzn-ErrorType") != "ServerException" || strings.Contains(body, "hunter2") || !strings.Contains(body, "req-1") {
		t.Errorf("internal error rendered as %d %q %s", w.Code, w.Header().Get("X-Amzn-ErrorType"), body)
	}
}

type errSecret struct{}

func (errSecret) Error() string { return "db password hunter2 rejected" }

func TestEpochSeconds(t *testing.T) {
	b, _ := EpochSeconds(time.UnixMilli(1700000000123)).MarshalJSON()
	if string(b) != "1700000000.123" {
		t.Errorf("got %s", b)
	}
	b, _ = EpochSeconds(time.Unix(1700000000, 0)).MarshalJSON()
	if string(b) != "1700000000" {
		t.Errorf("got %s", b)
	}
}

// Every kind of signing failure has a code, and every dialect a wire name
// for it: a new sigv4.Kind without one would reach clients as an internal
// error.
func TestErrorCodeOfSigningKinds(t *testing.T) {
	for kind := sigv4.MissingAuth; kind <= sigv4.ExpiredSessionToken; kind++ {
		err := fmt.Errorf("wrapped: %w", sigv4.Errorf(kind, "message of %s", kind))
		code := ErrorCode(err)
		if code == pi.CodeInternal {
			t.Errorf("%s has no code", kind)
			continue
		}
		if code != pi.Code(kind.String()) {
			t.Errorf("%s has code %q; logs and metrics name it %q", kind, code, kind.String())
		}
		for _, d := range []Dialect{EKS, EKSAuth, STS} {
			if _, ok := Lookup(d, code); !ok {
				t.Errorf("dialect %d has no wire error for %s", d, kind)
			}
		}
		if got := ClientMessage(err, "req-1"); got != "message of "+kind.String() {
			t.Errorf("ClientMessage(%s) = %q", kind, got)
		}
	}
	if code := ErrorCode(errors.New("plain")); code != pi.CodeInternal {
		t.Errorf("a plain error has code %q, want internal", code)
	}
}
