package awssts_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/credentials/awssts"
	"github.com/podidentity/podidentity/internal/podidentity"
)

var sixTags = map[string]string{
	"eks-cluster-arn":            "arn:aws:eks:us-east-1:111122223333:cluster/prod",
	"eks-cluster-name":           "prod",
	"kubernetes-namespace":       "shop",
	"kubernetes-pod-name":        "web-0",
	"kubernetes-pod-uid":         "0f5a8c1e-1111-2222-3333-444455556666",
	"kubernetes-service-account": "cart",
}

var sortedTagKeys = []string{
	"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace",
	"kubernetes-pod-name", "kubernetes-pod-uid", "kubernetes-service-account",
}

func TestSTSBackendSingleRole(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	req := request()
	got, err := iss.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := &podidentity.IssuedCredentials{
		AccessKeyID:     "ASIAFAKE000000000001",
		SecretAccessKey: "issued-secret-1",
		SessionToken:    "issued-token-1",
		Expiration:      clk.Now().Add(6 * time.Hour),
		AssumedRoleARN:  "arn:aws:sts::111122223333:assumed-role/cart/" + req.SessionName,
		AssumedRoleID:   "AROAFAKECART:" + req.SessionName,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls, want 1", len(calls))
	}
	c := calls[0]
	if c.AccessKeyID != serverKeyID || c.SessionToken != "" {
		t.Errorf("signed with %q (token %q), want the server's own key %s", c.AccessKeyID, c.SessionToken, serverKeyID)
	}
	for k, want := range map[string]string{
		"RoleArn": req.Association.RoleARN, "RoleSessionName": req.SessionName, "DurationSeconds": "21600",
		"Policy": "", "ExternalId": "",
	} {
		if got := c.Params.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if diff := cmp.Diff(sixTags, c.Tags()); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sortedTagKeys, c.TransitiveTagKeys()); diff != "" {
		t.Errorf("TransitiveTagKeys (-want +got):\n%s", diff)
	}
}

func TestSTSBackendNoTagsPolicyOnRole(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	_, err := iss.Issue(context.Background(), request(func(r *podidentity.CredentialRequest) {
		r.Association.DisableSessionTags = true
		r.Association.Policy = policy
		r.SessionTags = nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Calls()[0]
	if got := c.Params.Get("Policy"); got != policy {
		t.Errorf("Policy = %q, want the association's", got)
	}
	if len(c.Tags()) != 0 || len(c.TransitiveTagKeys()) != 0 {
		t.Errorf("tags sent with session tags disabled: %v %v", c.Tags(), c.TransitiveTagKeys())
	}
}

func TestSTSBackendChained(t *testing.T) {
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	for _, tt := range []struct {
		name   string
		tags   bool
		policy string
	}{
		{name: "transitive tags", tags: true},
		{name: "policy, no tags", policy: policy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			f := newFakeSTS(t, clk)
			iss, _ := newIssuer(t, f, clk)
			req := request(chained, func(r *podidentity.CredentialRequest) {
				if !tt.tags {
					r.Association.DisableSessionTags = true
					r.SessionTags = nil
				}
				r.Association.Policy = tt.policy
			})
			got, err := iss.Issue(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			calls := f.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d AssumeRole calls, want 2", len(calls))
			}
			first, second := calls[0], calls[1]
			if first.Params.Get("RoleArn") != req.Association.RoleARN || first.AccessKeyID != serverKeyID {
				t.Errorf("first call: role %s signed by %s, want %s by the server", first.Params.Get("RoleArn"), first.AccessKeyID, req.Association.RoleARN)
			}
			if first.Params.Get("Policy") != "" || first.Params.Get("ExternalId") != "" {
				t.Errorf("first call carries policy %q / external id %q; they belong to the target role", first.Params.Get("Policy"), first.Params.Get("ExternalId"))
			}
			wantTags := map[string]string{}
			if tt.tags {
				wantTags = sixTags
			}
			if diff := cmp.Diff(wantTags, first.Tags()); diff != "" {
				t.Errorf("first call tags (-want +got):\n%s", diff)
			}
			// The chain: signed with the first call's credentials.
			if second.AccessKeyID != "ASIAFAKE000000000001" || second.SessionToken != "issued-token-1" {
				t.Errorf("second call signed with %q/%q, want the first role's credentials", second.AccessKeyID, second.SessionToken)
			}
			for k, want := range map[string]string{
				"RoleArn": req.Association.TargetRoleARN, "RoleSessionName": req.SessionName,
				"ExternalId": req.Association.ExternalID, "Policy": tt.policy, "DurationSeconds": "3600",
			} {
				if got := second.Params.Get(k); got != want {
					t.Errorf("second call %s = %q, want %q", k, got, want)
				}
			}
			if len(second.Tags()) != 0 || len(second.TransitiveTagKeys()) != 0 {
				t.Errorf("second call repeats tags (STS refuses that): %v", second.Tags())
			}
			if first.Params.Get("DurationSeconds") != "3600" {
				t.Errorf("first call DurationSeconds = %s, want 3600", first.Params.Get("DurationSeconds"))
			}
			if got.AssumedRoleARN != "arn:aws:sts::444455556666:assumed-role/DataAccess/"+req.SessionName ||
				got.AccessKeyID != "ASIAFAKE000000000002" || !got.Expiration.Equal(clk.Now().Add(time.Hour)) {
				t.Errorf("got %s %s expiring %s, want the target role's credentials for 1h", got.AssumedRoleARN, got.AccessKeyID, got.Expiration)
			}
		})
	}
}

func TestSTSBackendCacheReuse(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	ctx := context.Background()
	first, err := iss.Issue(ctx, request())
	if err != nil {
		t.Fatal(err)
	}
	// A new request carries a new session name; the cached credentials keep
	// theirs.
	again, err := iss.Issue(ctx, request(func(r *podidentity.CredentialRequest) { r.SessionName = "eks-prod-web-0-other" }))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" || len(f.Calls()) != 1 {
		t.Fatalf("second request: %d STS calls, diff %s; want the cached credentials", len(f.Calls()), diff)
	}
	// Each of these is a different key: a new STS call.
	for i, mod := range []func(*podidentity.CredentialRequest){
		func(r *podidentity.CredentialRequest) { r.Pod.PodName, r.Pod.PodUID = "web-1", "uid-web-1" },
		func(r *podidentity.CredentialRequest) { r.Pod.PodUID = "uid-recreated" },
		func(r *podidentity.CredentialRequest) { r.Association.RoleARN = "arn:aws:iam::111122223333:role/other" },
		func(r *podidentity.CredentialRequest) {
			r.Association.DisableSessionTags, r.SessionTags = true, nil
			r.Association.Policy = `{"Version":"2012-10-17","Statement":[]}`
		},
		func(r *podidentity.CredentialRequest) { r.Duration = 2 * time.Hour },
		chained,
	} {
		before := len(f.Calls())
		if _, err := iss.Issue(ctx, request(mod)); err != nil {
			t.Fatal(err)
		}
		if len(f.Calls()) == before {
			t.Errorf("variation %d was served from the cache of another", i)
		}
	}
}

// Credentials are reused for the first half of their lifetime only.
func TestSTSBackendCacheExpiryEdges(t *testing.T) {
	for _, tt := range []struct {
		name     string
		duration time.Duration
		advance  time.Duration
		reused   bool
	}{
		{"6h, just issued", 6 * time.Hour, 0, true},
		{"6h, a nanosecond before half", 6 * time.Hour, 3*time.Hour - time.Nanosecond, true},
		{"6h, at half", 6 * time.Hour, 3 * time.Hour, false},
		{"6h, expired", 6 * time.Hour, 7 * time.Hour, false},
		{"1h, 29m59s", time.Hour, 30*time.Minute - time.Second, true},
		{"1h, 30m", time.Hour, 30 * time.Minute, false},
		{"15m, 7m29s", 15 * time.Minute, 7*time.Minute + 29*time.Second, true},
		{"15m, 7m30s", 15 * time.Minute, 7*time.Minute + 30*time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			f := newFakeSTS(t, clk)
			iss, _ := newIssuer(t, f, clk)
			req := request(func(r *podidentity.CredentialRequest) { r.Duration = tt.duration })
			a, err := iss.Issue(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			b, err := iss.Issue(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if reused := a.AccessKeyID == b.AccessKeyID; reused != tt.reused {
				t.Errorf("reused = %v after %s, want %v", reused, tt.advance, tt.reused)
			}
			if !tt.reused && b.Expiration.Sub(clk.Now()) != tt.duration {
				t.Errorf("fresh credentials live %s, want %s", b.Expiration.Sub(clk.Now()), tt.duration)
			}
		})
	}
}

// STS's clock ahead of or behind ours: the lifetime counts from when we
// asked, by our clock, so credentials already expired by it are not cached.
func TestSTSBackendCacheClockSkew(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk, func(c *awssts.Config) {
		now := clk.Now
		c.Now = func() time.Time { return now().Add(2 * time.Hour) } // our clock 2h ahead of STS
	})
	req := request(func(r *podidentity.CredentialRequest) { r.Duration = time.Hour })
	for range 2 {
		if _, err := iss.Issue(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d STS calls, want 2: credentials expired by our clock must not be cached", n)
	}
}

func TestSTSBackendSingleFlight(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	release := make(chan struct{})
	f.block = release
	iss, _ := newIssuer(t, f, clk)
	const n = 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		keys = map[string]int{}
		errs []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := iss.Issue(context.Background(), request())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			keys[c.AccessKeyID]++
		}()
	}
	waitFor(t, func() bool { return len(f.Calls()) == 1 })
	time.Sleep(20 * time.Millisecond) // let the other callers pile up
	close(release)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if len(f.Calls()) != 1 || len(keys) != 1 {
		t.Errorf("%d concurrent misses made %d STS calls and got %d different keys; want 1 and 1", n, len(f.Calls()), len(keys))
	}
}

// A caller that gives up (the node agent's one-second timeout) does not
// cancel the exchange: the credentials land in the cache for its retry.
func TestSTSBackendCallerCancelKeepsExchange(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	release := make(chan struct{})
	f.block = release
	iss, _ := newIssuer(t, f, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := iss.Issue(ctx, request())
		done <- err
	}()
	waitFor(t, func() bool { return len(f.Calls()) == 1 })
	cancel()
	err := <-done
	if podidentity.ErrorCode(err) != podidentity.CodeUnavailable {
		t.Fatalf("cancelled caller got %v, want CodeUnavailable", err)
	}
	f.mu.Lock()
	f.block = nil
	f.mu.Unlock()
	close(release)
	waitFor(t, func() bool {
		_, err := iss.Issue(context.Background(), request())
		return err == nil
	})
	if n := len(f.Calls()); n != 1 {
		t.Errorf("%d STS calls, want 1: the retry should find the first exchange's credentials", n)
	}
}

func TestSTSBackendErrors(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int
		code, msg string
		chain     bool
		want      podidentity.Code
		attempts  int
		wantMsg   []string
	}{
		{
			name: "throttled after retries", status: 400, code: "Throttling", msg: "Rate exceeded",
			want: podidentity.CodeThrottled, attempts: 3, wantMsg: []string{"throttling"},
		},
		{
			name: "access denied, STS's words", status: 403, code: "AccessDenied",
			msg:  "User: arn:aws:iam::111122223333:user/podidentity is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/workloads/cart",
			want: podidentity.CodeAccessDenied, attempts: 1,
			wantMsg: []string{
				"is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/workloads/cart",
				"trust policy of arn:aws:iam::111122223333:role/workloads/cart must allow this server's AWS principal sts:AssumeRole and sts:TagSession",
			},
		},
		{
			name: "access denied on the target role", status: 403, code: "AccessDenied", chain: true,
			msg:  "User: arn:aws:sts::111122223333:assumed-role/cart/eks-x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/DataAccess",
			want: podidentity.CodeAccessDenied, attempts: 1,
			wantMsg: []string{
				"target role arn:aws:iam::444455556666:role/DataAccess with the credentials of role arn:aws:iam::111122223333:role/workloads/cart",
				`sts:ExternalId "us-east-1/111122223333/prod/shop/cart"`,
				"assumed-role/cart/eks-x is not authorized",
			},
		},
		{
			name: "malformed policy", status: 400, code: "MalformedPolicyDocument", msg: "Syntax errors in policy.",
			want: podidentity.CodeInvalidParameter, attempts: 1, wantMsg: []string{"MalformedPolicyDocument: Syntax errors in policy."},
		},
		{
			name: "packed policy too large", status: 400, code: "PackedPolicyTooLarge", msg: "Serialized token too large for session",
			want: podidentity.CodeInvalidParameter, attempts: 1, wantMsg: []string{"PackedPolicyTooLarge"},
		},
		{
			name: "validation error", status: 400, code: "ValidationError", msg: "1 validation error detected: Value at 'roleArn' failed",
			want: podidentity.CodeInvalidParameter, attempts: 1, wantMsg: []string{"roleArn"},
		},
		{
			name: "server's own key unknown", status: 403, code: "InvalidClientTokenId", msg: "The security token included in the request is invalid.",
			want: podidentity.CodeUnavailable, attempts: 1, wantMsg: []string{"this server's own AWS credentials", "InvalidClientTokenId"},
		},
		{
			name: "server's own credentials expired", status: 400, code: "ExpiredToken", msg: "The security token included in the request is expired",
			want: podidentity.CodeUnavailable, attempts: 1, wantMsg: []string{"this server's own AWS credentials"},
		},
		{
			name: "region disabled", status: 403, code: "RegionDisabledException", msg: "STS is not activated in this region for account:111122223333.",
			want: podidentity.CodeAccessDenied, attempts: 1, wantMsg: []string{"not activated"},
		},
		{
			name: "STS failing", status: 500, code: "InternalFailure", msg: "internal",
			want: podidentity.CodeUnavailable, attempts: 3, wantMsg: []string{"retry"},
		},
		{
			name: "STS unavailable", status: 503, code: "ServiceUnavailable", msg: "unavailable",
			want: podidentity.CodeUnavailable, attempts: 3,
		},
		{
			name: "undocumented client error", status: 400, code: "SomethingNew", msg: "New words.",
			want: podidentity.CodeInvalidRequest, attempts: 1, wantMsg: []string{"SomethingNew: New words."},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			f := newFakeSTS(t, clk)
			f.setRespond(func(n int, c stsCall) (int, string, string) {
				if tt.chain && n == 1 {
					return 0, "", ""
				}
				return tt.status, tt.code, tt.msg
			})
			iss, logs := newIssuer(t, f, clk)
			req := request()
			if tt.chain {
				req = request(chained)
			}
			_, err := iss.Issue(context.Background(), req)
			var e *podidentity.Error
			if !errors.As(err, &e) || e.Code != tt.want {
				t.Fatalf("Issue error = %v, want code %s", err, tt.want)
			}
			attempts := len(f.Calls())
			if tt.chain {
				attempts--
			}
			if attempts != tt.attempts {
				t.Errorf("%d attempts, want %d", attempts, tt.attempts)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			noSecrets(t, e.Error()+logs.String())
			// Failures are not cached: the next request asks STS again.
			before := len(f.Calls())
			iss.Issue(context.Background(), req)
			if len(f.Calls()) == before {
				t.Errorf("a failure was cached")
			}
		})
	}
}

// Endpoints that wrap errors in another envelope than STS's (moto's
// authentication layer) still give the right code, if not STS's words.
func TestSTSBackendUnreadableErrorEnvelope(t *testing.T) {
	for _, tt := range []struct {
		status int
		header string
		want   podidentity.Code
	}{
		{403, "AccessDenied", podidentity.CodeAccessDenied},
		{403, "", podidentity.CodeAccessDenied},
		{400, "Throttling", podidentity.CodeThrottled},
		{400, "", podidentity.CodeInvalidRequest},
		{500, "", podidentity.CodeUnavailable},
	} {
		clk := newClock()
		f := newFakeSTS(t, clk)
		f.errorsEnvelope = true
		f.setRespond(func(int, stsCall) (int, string, string) { return tt.status, tt.header, "not readable by the SDK" })
		iss, _ := newIssuer(t, f, clk)
		_, err := iss.Issue(context.Background(), request())
		if got := podidentity.ErrorCode(err); got != tt.want {
			t.Errorf("status %d, X-Amzn-ErrorType %q: %v, want %s", tt.status, tt.header, err, tt.want)
		}
	}
}

func TestSTSBackendThrottleRecovers(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	f.setRespond(func(n int, c stsCall) (int, string, string) {
		if n < 3 {
			return 400, "Throttling", "Rate exceeded"
		}
		return 0, "", ""
	})
	iss, _ := newIssuer(t, f, clk)
	if _, err := iss.Issue(context.Background(), request()); err != nil {
		t.Fatalf("Issue after two throttled attempts: %v", err)
	}
}

func TestSTSBackendUnreachable(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	f.srv.Close()
	_, err := iss.Issue(context.Background(), request())
	if podidentity.ErrorCode(err) != podidentity.CodeUnavailable {
		t.Fatalf("Issue with STS down: %v, want CodeUnavailable", err)
	}
	noSecrets(t, err.Error())
}

// A role whose MaxSessionDuration is below the configured duration, or a
// server whose own identity is a role session (AWS caps role chaining at one
// hour), still gives pods credentials: one hour, which every role and chain
// allows. The role's next pods ask for one hour at once; an hour later the
// configured duration is tried again.
func TestSTSBackendDurationFallback(t *testing.T) {
	for _, msg := range []string{
		"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
		"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
	} {
		t.Run(msg, func(t *testing.T) {
			clk := newClock()
			f := newFakeSTS(t, clk)
			f.setRespond(func(n int, c stsCall) (int, string, string) {
				if c.Params.Get("DurationSeconds") != "3600" {
					return 400, "ValidationError", msg
				}
				return 0, "", ""
			})
			iss, logs := newIssuer(t, f, clk)
			got, err := iss.Issue(context.Background(), request())
			if err != nil {
				t.Fatal(err)
			}
			if life := got.Expiration.Sub(clk.Now()); life != time.Hour {
				t.Errorf("credentials live %s, want 1h", life)
			}
			if n := len(f.Calls()); n != 2 {
				t.Errorf("%d calls for the first pod, want 2 (refused, then 1h)", n)
			}
			// Another pod of the role: straight to one hour.
			if _, err := iss.Issue(context.Background(), request(func(r *podidentity.CredentialRequest) { r.Pod.PodName, r.Pod.PodUID = "web-1", "u1" })); err != nil {
				t.Fatal(err)
			}
			if n := len(f.Calls()); n != 3 {
				t.Errorf("%d calls after a second pod, want 3: the cap should be remembered", n)
			}
			if n := strings.Count(logs.String(), "refused the configured credential duration"); n != 1 {
				t.Errorf("%d warnings, want 1:\n%s", n, logs)
			}
			// An hour on, the configured duration is tried again.
			clk.Advance(time.Hour)
			if _, err := iss.Issue(context.Background(), request(func(r *podidentity.CredentialRequest) { r.Pod.PodName, r.Pod.PodUID = "web-2", "u2" })); err != nil {
				t.Fatal(err)
			}
			if got := f.Calls()[3].Params.Get("DurationSeconds"); got != "21600" {
				t.Errorf("an hour later DurationSeconds = %s, want 21600 again", got)
			}
		})
	}
	// With a duration of 1h or less there is nothing to fall back to.
	clk := newClock()
	f := newFakeSTS(t, clk)
	f.setRespond(func(int, stsCall) (int, string, string) {
		return 400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
	})
	iss, _ := newIssuer(t, f, clk)
	_, err := iss.Issue(context.Background(), request(chained))
	if podidentity.ErrorCode(err) != podidentity.CodeInvalidParameter || len(f.Calls()) != 1 {
		t.Errorf("1h request refused for its duration: %v after %d calls, want CodeInvalidParameter after 1", err, len(f.Calls()))
	}
}

func TestSTSBackendRefusesMalformedRequests(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	for name, mod := range map[string]func(*podidentity.CredentialRequest){
		"session name":    func(r *podidentity.CredentialRequest) { r.SessionName = "bad name" },
		"role ARN":        func(r *podidentity.CredentialRequest) { r.Association.RoleARN = "arn:aws:iam::111122223333:user/x" },
		"target role ARN": func(r *podidentity.CredentialRequest) { r.Association.TargetRoleARN = "DataAccess" },
		"tag value":       func(r *podidentity.CredentialRequest) { r.SessionTags = map[string]string{"k": "a\nb"} },
		"policy length":   func(r *podidentity.CredentialRequest) { r.Association.Policy = strings.Repeat("x", 2049) },
	} {
		_, err := iss.Issue(context.Background(), request(mod))
		if podidentity.ErrorCode(err) != podidentity.CodeInvalidParameter {
			t.Errorf("%s: %v, want CodeInvalidParameter", name, err)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d STS calls for requests STS would refuse", n)
	}
}

func TestSTSBackendIdentity(t *testing.T) {
	clk := newClock()
	f := newFakeSTS(t, clk)
	iss, _ := newIssuer(t, f, clk)
	arn, err := iss.Identity(context.Background())
	if err != nil || arn != "arn:aws:iam::111122223333:user/podidentity" {
		t.Errorf("Identity = %q, %v", arn, err)
	}
}

func TestSTSBackendConfigValidate(t *testing.T) {
	for name, cfg := range map[string]awssts.Config{
		"no region, no credentials": {},
		"bad endpoint":              {Endpoint: "sts.example.com"},
		"negative":                  {MaxAttempts: -1},
	} {
		if _, err := awssts.NewIssuer(cfg); err == nil {
			t.Errorf("%s: NewIssuer accepted %+v", name, cfg)
		}
	}
}

func TestSTSBackendTags(t *testing.T) {
	tags, keys := awssts.Tags(nil)
	if tags != nil || keys != nil {
		t.Errorf("Tags(nil) = %v, %v; want nil: session tags disabled", tags, keys)
	}
	tags, keys = awssts.Tags(sixTags)
	if diff := cmp.Diff(sortedTagKeys, keys); diff != "" {
		t.Errorf("transitive keys (-want +got):\n%s", diff)
	}
	got := map[string]string{}
	for j, tag := range tags {
		if *tag.Key != keys[j] {
			t.Errorf("tag %d is %s, transitive key %d is %s: not in the same order", j, *tag.Key, j, keys[j])
		}
		got[*tag.Key] = *tag.Value
	}
	if diff := cmp.Diff(sixTags, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{serverSecret, "issued-secret-", "issued-token-"} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret (%s...) leaked into errors or logs:\n%s", secret[:8], s)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// The hot path: a pod's repeat request answered from the cache.
func BenchmarkSTSBackendCacheHit(b *testing.B) {
	clk := newClock()
	f := newFakeSTS(b, clk)
	iss, _ := newIssuer(b, f, clk)
	req := request()
	if _, err := iss.Issue(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
