package cli

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/podidentity/podidentity/internal/config"
)

// printDevBanner shows a --dev user the whole flow, ready to paste. It goes
// to the log stream (stderr), not stdout, and names this program as it was
// invoked, so that the commands work where the user stands.
func printDevBanner(w io.Writer, addr string, cfg *config.File) {
	ep := "http://" + addr
	cluster := cfg.Clusters[0].Name
	role := "arn:aws:iam::" + cfg.AccountID + ":role/demo-app"
	fmt.Fprintf(w, `
Development mode: in-memory store; cluster %[2]q signs its tokens with a key generated at start.
Try the whole EKS Pod Identity flow (any access key works for the eks APIs in dev mode):

  export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=dev AWS_DEFAULT_REGION=%[4]s
  aws eks create-pod-identity-association --endpoint-url %[1]s --cluster-name %[2]s \
      --namespace default --service-account app --role-arn %[3]s
  TOKEN=$(%[5]s token --endpoint %[1]s --cluster %[2]s --namespace default --service-account app)
  read AK SK ST <<< "$(aws eks-auth assume-role-for-pod-identity --endpoint-url %[1]s --cluster-name %[2]s \
      --token "$TOKEN" --query 'credentials.[accessKeyId,secretAccessKey,sessionToken]' --output text)"
  AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_SESSION_TOKEN=$ST aws sts get-caller-identity --endpoint-url %[1]s

`, ep, cluster, role, cfg.Region, invokedAs(os.Args[0]))
}

// invokedAs is how the user can run this program again: `go run
// ./cmd/podidentity` when `go run` built it (its binary lives in a go-build
// directory that is deleted on exit, so its path would not work), else the
// name it was started by ("podidentity" from PATH, "bin/podidentity"),
// quoted for the shell when it needs to be.
func invokedAs(arg0 string) string {
	dir := filepath.ToSlash(filepath.Dir(arg0))
	if path.Base(dir) == "exe" && strings.Contains(dir, "/go-build") {
		return "go run ./cmd/podidentity"
	}
	if arg0 == "" {
		return "podidentity"
	}
	if strings.ContainsFunc(arg0, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r))
	}) {
		return "'" + strings.ReplaceAll(arg0, "'", `'\''`) + "'"
	}
	return arg0
}
