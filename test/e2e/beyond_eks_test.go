package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
	"github.com/podidentity/podidentity/internal/tokenmint"
)

// Pattern associations (precedence, ambiguity refused, quota) and session
// shaping (stable names, custom tags, refusals naming the tag, a principal
// that may only tag kept out) through boto3 against the real binary on the
// local backend.
func TestBoto3PatternsAndSessionShape(t *testing.T) {
	py := testenv.Python(t, "boto3")
	dir := t.TempDir()
	demo := newClusterKeys(t, dir, "https://issuer.example/demo")
	srv := startServer(t, "--config", writeConfig(t, dir, fmt.Sprintf(`
region: us-west-2
accountId: "111122223333"
storage: sqlite://%s
clusters:
  - name: demo
    issuer: https://issuer.example/demo
    jwksFile: %s
associations:
  patterns: true
  sessionShaping: true
limits:
  associationsPerCluster: 6
`+adminAuth+`    - arn: arn:aws:iam::111122223333:user/tagger
      accessKeyId: AKIATAGGER0000000001
      secretAccessKey: tagger-secret
      actions: ["eks:TagResource", "eks:UntagResource"]
      clusters: ["demo"]
`, filepath.Join(dir, "db.sqlite"), demo.jwks)))

	now := time.Now()
	tokens := map[string]string{}
	for _, p := range []struct{ ns, sa, pod string }{
		{"team-a", "batch", "b-0"}, {"team-a", "web", "w-0"}, {"team-prod", "batch", "b-0"}, {"team-prod", "web", "w-0"},
		{"other", "web", "w-0"}, {"shop", "cart", "cart-0"},
	} {
		tokens[p.ns+"/"+p.sa] = demo.mint(t, tokenmint.Pod{Namespace: p.ns, ServiceAccount: p.sa, PodName: p.pod, PodUID: "uid-" + p.pod}, now, time.Hour)
	}
	tokens["shop/cart-2"] = demo.mint(t, tokenmint.Pod{Namespace: "shop", ServiceAccount: "cart", PodName: "cart-1", PodUID: "uid-cart-1"}, now, time.Hour)
	enc, _ := json.Marshal(tokens)
	t.Setenv("TOKENS", string(enc))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := runCmd(t, ctx, py, "testdata/beyond_eks.py", srv.URL)
	if err != nil || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("boto3 script: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
}
