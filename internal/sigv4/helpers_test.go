package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The example credentials of AWS's SigV4 documentation and test suite.
const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testToken  = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////////wEaCXVzLXdlc3QtMiJHMEUCIQ+/="
	testRegion = "us-west-2"
)

// testKey is one credential a test lookup knows.
type testKey struct {
	secret    string
	token     string // "" for long-term keys; otherwise it must match
	principal string
}

// lookupFrom is a SecretLookup over a fixed set of keys. Like a real
// backend it rejects a session token that does not belong to the key.
func lookupFrom(keys map[string]testKey) SecretLookup[string] {
	return func(_ context.Context, akid, token string) (string, string, error) {
		k, ok := keys[akid]
		if !ok || k.token != token {
			return "", "", nil
		}
		return k.secret, k.principal, nil
	}
}

// defaultKeys holds a long-term key and a temporary one with a token.
func defaultKeys() map[string]testKey {
	return map[string]testKey{
		testAKID:               {secret: testSecret, principal: "user/example"},
		"ASIAEXAMPLETEMPORARY": {secret: "tmpSecret/with+symbols=", token: testToken, principal: "assumed-role/demo"},
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// readRequest parses raw bytes the way http.Server does, so tests see the
// same Host, RequestURI and header quirks as the real server.
func readRequest(t testing.TB, raw string) (*http.Request, []byte) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest: %v", err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return r, body
}

// wire serialises a client request to the bytes the Go client sends and
// parses them back as the server would.
func wire(t testing.TB, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return readRequest(t, buf.String())
}

// notRefused is codeOf's answer for an error that is not a refusal of the
// request (an *Error) but a failure of the server, such as a Lookup that
// could not reach its store.
const notRefused Kind = -1

// codeOf returns the Kind of a Verify error, 0 for nil and notRefused for
// errors that are not *Error.
func codeOf(t testing.TB, err error) Kind {
	t.Helper()
	if err == nil {
		return 0
	}
	var e *Error
	if !errors.As(err, &e) {
		return notRefused
	}
	return e.Kind
}

// messageOf is what a client would read for err: the *Error's message, or
// the generic text a server shows for its own failures.
func messageOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "an internal error occurred"
}

// outcome is one verification the test server performed.
type outcome struct {
	Service string
	Result  *Result[string]
	Err     error
}

// awsServer is an httptest.Server that verifies every request and answers
// like EKS, EKS Auth or STS would, just far enough for SDK clients to parse
// the reply. It records what Verify said so tests can assert on it.
type awsServer struct {
	*httptest.Server
	v *Verifier[string]

	mu       sync.Mutex
	outcomes []outcome
}

func newAWSServer(t testing.TB, v *Verifier[string]) *awsServer {
	t.Helper()
	s := &awsServer{v: v}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// serviceOf routes by path the way the three APIs are laid out.
func serviceOf(r *http.Request) string {
	switch {
	case r.URL.Path == "/":
		return "sts"
	case strings.HasSuffix(r.URL.Path, "/assume-role-identity"):
		return "eks-auth"
	}
	return "eks"
}

func (s *awsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	service := serviceOf(r)
	res, err := s.v.Verify(r.Context(), r, body, service)
	s.mu.Lock()
	s.outcomes = append(s.outcomes, outcome{service, res, err})
	s.mu.Unlock()
	if err != nil {
		writeAWSError(w, service, err)
		return
	}
	switch {
	case service == "sts":
		writeCallerIdentity(w, res)
	case r.Method == http.MethodGet && r.URL.Path == "/clusters":
		writeJSON(w, map[string]any{"clusters": []string{}})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/tags/"):
		writeJSON(w, map[string]any{"tags": map[string]string{"resource": r.URL.Path[len("/tags/"):]}})
	case strings.HasSuffix(r.URL.Path, "/pod-identity-associations"):
		writeJSON(w, map[string]any{"associations": []any{}})
	default:
		// Anything else verified fine; tests that reach here only look
		// at the recorded outcome.
		writeJSON(w, map[string]any{})
	}
}

// last returns the most recent outcome.
func (s *awsServer) last(t testing.TB) outcome {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.outcomes) == 0 {
		t.Fatal("the server saw no request")
	}
	return s.outcomes[len(s.outcomes)-1]
}

func (s *awsServer) all() []outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]outcome(nil), s.outcomes...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// awsErrorNames is the small slice of the protocol error table these tests
// need: the name each protocol gives a Verify error code.
var awsErrorNames = map[Kind]struct {
	status      int
	json, query string
}{
	MissingAuth:         {http.StatusForbidden, "MissingAuthenticationTokenException", "MissingAuthenticationToken"},
	IncompleteSignature: {http.StatusBadRequest, "IncompleteSignatureException", "IncompleteSignature"},
	UnrecognizedClient:  {http.StatusForbidden, "UnrecognizedClientException", "InvalidClientTokenId"},
	SignatureMismatch:   {http.StatusForbidden, "InvalidSignatureException", "SignatureDoesNotMatch"},
	RequestExpired:      {http.StatusForbidden, "InvalidSignatureException", "SignatureDoesNotMatch"},
}

// writeAWSError answers as the service's protocol would: rest-json for EKS
// and EKS Auth (X-Amzn-ErrorType plus {"message"}), query XML for STS.
func writeAWSError(w http.ResponseWriter, service string, err error) {
	names, ok := awsErrorNames[KindOf(err)]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	msg := messageOf(err)
	if service == "sts" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(names.status)
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(msg))
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`,
			names.query, b.String())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", names.json)
	w.WriteHeader(names.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func writeCallerIdentity(w http.ResponseWriter, res *Result[string]) {
	w.Header().Set("Content-Type", "text/xml")
	var arn, akid strings.Builder
	_ = xml.EscapeText(&arn, []byte(fmt.Sprintf("arn:aws:iam::111122223333:%v", res.Caller)))
	_ = xml.EscapeText(&akid, []byte(res.AccessKeyID))
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>%s</UserId>
    <Account>111122223333</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, arn.String(), akid.String())
}
