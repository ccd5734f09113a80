package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podidentity/podidentity/internal/testenv"
)

// These tests have the Python signer, botocore, sign requests through
// boto3's clients, its presigner, its raw SigV4Auth and the AWS CLI, and
// check that the server verifies them and that the clients understand our
// errors.

var botocoreScenarios = []string{
	"eks_list_clusters",
	"eks_list_tags",
	"eks_list_associations",
	"sts_get_caller_identity",
	"sts_presigned",
	"sts_presigned_cluster_header",
	"sigv4_date_header",
	"sigv4_dot_segments",
	"sigv4_header_whitespace",
}

type botocoreResult struct {
	Scenario string `json:"scenario"`
	OK       bool   `json:"ok"`
	Result   any    `json:"result,omitempty"`
	Status   int    `json:"status,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

func runBotocore(t *testing.T, py, endpoint, akid, secret, token string) []botocoreResult {
	t.Helper()
	cfg := map[string]any{
		"endpoint":   endpoint,
		"region":     testRegion,
		"access_key": akid,
		"secret_key": secret,
		"scenarios":  botocoreScenarios,
	}
	if token != "" {
		cfg["session_token"] = token
	}
	in, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/botocore_client.py")
	cmd.Env = awsFreeEnv()
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("botocore_client.py: %v\n%s", err, stderr.String())
	}
	var out []botocoreResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("botocore_client.py output %q: %v", stdout.String(), err)
	}
	return out
}

// awsFreeEnv is the environment without any AWS settings of the machine
// running the tests, so that only what a test passes is used.
func awsFreeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	return append(env, extra...)
}

func TestBotocore(t *testing.T) {
	py := testenv.Python(t, "boto3")
	t.Parallel()
	srv := newAWSServer(t, &Verifier[string]{Lookup: lookupFrom(defaultKeys()), Regions: []string{testRegion}})

	t.Run("valid", func(t *testing.T) {
		got := runBotocore(t, py, srv.URL, tempCreds.AccessKeyID, tempCreds.SecretAccessKey, tempCreds.SessionToken)
		const arn = "arn:aws:iam::111122223333:assumed-role/demo"
		want := []botocoreResult{
			{Scenario: "eks_list_clusters", OK: true, Result: []any{}},
			{Scenario: "eks_list_tags", OK: true, Result: map[string]any{"resource": demoARN}},
			{Scenario: "eks_list_associations", OK: true, Result: []any{}},
			{Scenario: "sts_get_caller_identity", OK: true, Result: arn},
			{Scenario: "sts_presigned", OK: true, Result: arn},
			{Scenario: "sts_presigned_cluster_header", OK: true, Result: arn},
			{Scenario: "sigv4_date_header", OK: true, Result: map[string]any{"clusters": []any{}}},
			{Scenario: "sigv4_dot_segments", OK: true, Result: map[string]any{"associations": []any{}}},
			{Scenario: "sigv4_header_whitespace", OK: true, Result: map[string]any{"clusters": []any{}}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("botocore results mismatch (-want +got):\n%s", diff)
		}
		for _, o := range srv.all() {
			if o.Err != nil {
				t.Errorf("server rejected a %s request: %v", o.Service, o.Err)
			} else if o.Result.SessionToken != testToken {
				t.Errorf("server saw session token %q", o.Result.SessionToken)
			}
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		got := runBotocore(t, py, srv.URL, tempCreds.AccessKeyID, "wrong-secret", tempCreds.SessionToken)
		want := map[string]struct {
			status int
			code   string
		}{
			"eks_list_clusters":            {403, "InvalidSignatureException"},
			"eks_list_tags":                {403, "InvalidSignatureException"},
			"eks_list_associations":        {403, "InvalidSignatureException"},
			"sts_get_caller_identity":      {403, "SignatureDoesNotMatch"},
			"sts_presigned":                {403, "SignatureDoesNotMatch"},
			"sts_presigned_cluster_header": {403, "SignatureDoesNotMatch"},
			"sigv4_date_header":            {403, "InvalidSignatureException"},
			"sigv4_dot_segments":           {403, "InvalidSignatureException"},
			"sigv4_header_whitespace":      {403, "InvalidSignatureException"},
		}
		for _, r := range got {
			w := want[r.Scenario]
			if r.OK || r.Status != w.status || r.Code != w.code {
				t.Errorf("%s: ok=%v status=%d code=%q, want status %d code %q", r.Scenario, r.OK, r.Status, r.Code, w.status, w.code)
			}
			if !strings.Contains(r.Message, "The request signature we calculated does not match") {
				t.Errorf("%s: message %q", r.Scenario, r.Message)
			}
		}
	})
}

func TestAWSCLI(t *testing.T) {
	aws := testenv.LookPath(t, "aws")
	t.Parallel()
	srv := newAWSServer(t, &Verifier[string]{Lookup: lookupFrom(defaultKeys())})

	tests := []struct {
		name     string
		args     []string
		creds    [3]string // access key id, secret, session token
		want     string    // in stdout on success
		wantCode string    // the error code in stderr on failure
	}{
		{
			name:  "eks list-clusters",
			args:  []string{"eks", "list-clusters"},
			creds: [3]string{tempCreds.AccessKeyID, tempCreds.SecretAccessKey, tempCreds.SessionToken},
			want:  `"clusters": []`,
		},
		{
			name:  "eks list-tags-for-resource",
			args:  []string{"eks", "list-tags-for-resource", "--resource-arn", demoARN},
			creds: [3]string{testAKID, testSecret, ""},
			want:  demoARN,
		},
		{
			name:  "sts get-caller-identity",
			args:  []string{"sts", "get-caller-identity"},
			creds: [3]string{tempCreds.AccessKeyID, tempCreds.SecretAccessKey, tempCreds.SessionToken},
			want:  "arn:aws:iam::111122223333:assumed-role/demo",
		},
		{
			name:     "eks with a wrong secret",
			args:     []string{"eks", "list-clusters"},
			creds:    [3]string{testAKID, "wrong-secret", ""},
			wantCode: "InvalidSignatureException",
		},
		{
			name:     "sts with an unknown key",
			args:     []string{"sts", "get-caller-identity"},
			creds:    [3]string{"AKIAUNKNOWN", "x", ""},
			wantCode: "InvalidClientTokenId",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{"--endpoint-url", srv.URL, "--region", testRegion, "--output", "json"}, tt.args...)
			cmd := exec.CommandContext(ctx, aws, args...)
			env := []string{"AWS_ACCESS_KEY_ID=" + tt.creds[0], "AWS_SECRET_ACCESS_KEY=" + tt.creds[1], "AWS_MAX_ATTEMPTS=1"}
			if tt.creds[2] != "" {
				env = append(env, "AWS_SESSION_TOKEN="+tt.creds[2])
			}
			cmd.Env = awsFreeEnv(env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("aws %s: %v\n%s", strings.Join(tt.args, " "), err, stderr.String())
				}
				if !strings.Contains(stdout.String(), tt.want) {
					t.Errorf("aws %s printed %q, want it to contain %q", strings.Join(tt.args, " "), stdout.String(), tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("aws %s succeeded, want %s", strings.Join(tt.args, " "), tt.wantCode)
			}
			if !strings.Contains(stderr.String(), "("+tt.wantCode+")") {
				t.Errorf("aws %s stderr %q, want error code %s", strings.Join(tt.args, " "), stderr.String(), tt.wantCode)
			}
		})
	}
}
