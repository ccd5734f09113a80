package awssts_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/podidentity/podidentity/internal/credentials/awssts"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/testenv"
)

// The server's own identity in these tests.
const (
	serverKeyID  = "AKIASERVEROWNKEY0001"
	serverSecret = "server-secret-never-in-errors-0000000000"
)

// newClock is a settable clock shared by the issuer and the fake STS.
func newClock() *testenv.Clock { return testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

// stsCall is one request the fake STS received, as the real SDK sent it.
type stsCall struct {
	Action       string
	Params       url.Values
	AccessKeyID  string // from the Authorization header's credential scope
	SessionToken string // X-Amz-Security-Token
}

// Tags returns the Tags.member.N pairs of the call.
func (c stsCall) Tags() map[string]string {
	tags := map[string]string{}
	for n := 1; ; n++ {
		k, ok := c.Params[fmt.Sprintf("Tags.member.%d.Key", n)]
		if !ok {
			return tags
		}
		tags[k[0]] = c.Params.Get(fmt.Sprintf("Tags.member.%d.Value", n))
	}
}

// TransitiveTagKeys returns the TransitiveTagKeys.member.N values in order.
func (c stsCall) TransitiveTagKeys() []string {
	var keys []string
	for n := 1; ; n++ {
		k, ok := c.Params[fmt.Sprintf("TransitiveTagKeys.member.%d", n)]
		if !ok {
			return keys
		}
		keys = append(keys, k[0])
	}
}

// fakeSTS speaks the STS query protocol well enough for AssumeRole and
// GetCallerIdentity, so that the tests drive the real aws-sdk-go-v2 client:
// its serializer, signer, retryer and error deserializer. By default it
// issues credentials for DurationSeconds; respond overrides an answer.
type fakeSTS struct {
	srv   *httptest.Server
	clock *testenv.Clock

	mu      sync.Mutex
	calls   []stsCall
	issued  int
	respond func(n int, c stsCall) (status int, code, message string) // n counts calls from 1; status 0: success
	block   chan struct{}                                             // when set, AssumeRole waits for it to close
	// errorsEnvelope answers errors the way moto's authentication layer
	// does, <ErrorResponse><Errors><Error>, with the code in an
	// X-Amzn-ErrorType header only when it is set.
	errorsEnvelope bool
}

var credentialScope = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func newFakeSTS(t testing.TB, clk *testenv.Clock) *fakeSTS {
	f := &fakeSTS{clock: clk}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSTS) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c := stsCall{Action: r.PostForm.Get("Action"), Params: r.PostForm, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.AccessKeyID = m[1]
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n, respond, block := len(f.calls), f.respond, f.block
	f.mu.Unlock()
	if block != nil && c.Action == "AssumeRole" {
		<-block
	}
	if respond != nil {
		if status, code, msg := respond(n, c); status != 0 && f.errorsEnvelope {
			w.Header().Set("Content-Type", "text/xml")
			if code != "" {
				w.Header().Set("X-Amzn-ErrorType", code)
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><ErrorResponse><Errors><Error><Code>%s</Code><Message>%s</Message><Type>Sender</Type></Error></Errors></ErrorResponse>`, code, xmlEscape(msg))
			return
		} else if status != 0 {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`,
				map[bool]string{true: "Receiver", false: "Sender"}[status >= 500], code, xmlEscape(msg), n)
			return
		}
	}
	switch c.Action {
	case "GetCallerIdentity":
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/podidentity</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, n)
	case "AssumeRole":
		secs, _ := strconv.Atoi(c.Params.Get("DurationSeconds"))
		roleARN, name := c.Params.Get("RoleArn"), c.Params.Get("RoleSessionName")
		acct := strings.Split(roleARN, ":")[4]
		role := roleARN[strings.LastIndexByte(roleARN, '/')+1:]
		f.mu.Lock()
		f.issued++
		k := f.issued
		f.mu.Unlock()
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAFAKE%012d</AccessKeyId><SecretAccessKey>issued-secret-%d</SecretAccessKey><SessionToken>issued-token-%d</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><AssumedRoleId>AROAFAKE%s:%s</AssumedRoleId><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn></AssumedRoleUser>
<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			k, k, k, f.clock.Now().Add(time.Duration(secs)*time.Second).Format(time.RFC3339), strings.ToUpper(role), name, acct, role, name, n)
	default:
		http.Error(w, "unexpected action "+c.Action, 400)
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Calls returns the AssumeRole calls received so far.
func (f *fakeSTS) Calls() []stsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []stsCall
	for _, c := range f.calls {
		if c.Action == "AssumeRole" {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSTS) setRespond(fn func(n int, c stsCall) (int, string, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

// newIssuer returns an issuer talking to f with the server's static
// identity, fast retries, and its log in the returned buffer.
func newIssuer(t testing.TB, f *fakeSTS, clk *testenv.Clock, mod ...func(*awssts.Config)) (*awssts.Issuer, *testenv.Output) {
	t.Helper()
	logs := &testenv.Output{}
	cfg := awssts.Config{
		AWS: aws.Config{
			Region:      "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider(serverKeyID, serverSecret, ""),
		},
		Endpoint:   f.srv.URL,
		MaxBackoff: time.Millisecond,
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
		Now:        clk.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	i, err := awssts.NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i, logs
}

// request is a typical request for pod web-0 of shop/cart in cluster prod,
// as the domain builds it.
func request(mod ...func(*podidentity.CredentialRequest)) *podidentity.CredentialRequest {
	cluster := podidentity.Cluster{Name: "prod", ARN: "arn:aws:eks:us-east-1:111122223333:cluster/prod"}
	pod := podidentity.PodIdentity{
		Cluster: "prod", Namespace: "shop", ServiceAccount: "cart",
		PodName: "web-0", PodUID: "0f5a8c1e-1111-2222-3333-444455556666",
	}
	r := &podidentity.CredentialRequest{
		Cluster: cluster,
		Association: podidentity.Association{
			ClusterName: "prod", AssociationID: "a-0123456789abcdefg", Namespace: "shop", ServiceAccount: "cart",
			RoleARN: "arn:aws:iam::111122223333:role/workloads/cart",
		},
		Pod:         pod,
		SessionName: "eks-prod-web-0-6f9619ff-8b86-d011-b42d-00cf4fc964ff",
		SessionTags: podidentity.SessionTags(&cluster, &pod),
		Duration:    6 * time.Hour,
	}
	for _, m := range mod {
		m(r)
	}
	return r
}

// chained makes r an association with a target role in another account,
// as the domain passes it: one hour, external id set.
func chained(r *podidentity.CredentialRequest) {
	r.Association.TargetRoleARN = "arn:aws:iam::444455556666:role/DataAccess"
	r.Association.ExternalID = "us-east-1/111122223333/prod/shop/cart"
	r.Duration = time.Hour
}
