package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

// runToken mints a pod-bound service-account token: from a --dev server's
// cluster (asking the server, which alone holds that key), or with a key
// file and issuer for any cluster whose keys you hold.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cluster := fs.String("cluster", "demo", "cluster name (of a --dev server)")
	namespace := fs.String("namespace", "default", "pod namespace")
	serviceAccount := fs.String("service-account", "", "service account name (required)")
	podName := fs.String("pod-name", "", "pod name (default SERVICE-ACCOUNT-dev)")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	endpoint := fs.String("endpoint", "http://127.0.0.1:8080", "URL of the --dev server")
	keyFile := fs.String("key", "", "PEM private key to sign with instead of asking a dev server")
	issuer := fs.String("issuer", "", "issuer (iss) to put in the token; required with --key")
	output := fs.String("output", "", "write the token to this file (no trailing newline) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *serviceAccount == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "podidentity token: --service-account is required and no arguments are taken")
		return 2
	}
	if *podName == "" {
		*podName = *serviceAccount + "-dev"
	}
	var (
		tok string
		err error
	)
	if *keyFile != "" {
		tok, err = signLocally(*keyFile, *issuer, tokenmint.Pod{Namespace: *namespace, ServiceAccount: *serviceAccount, PodName: *podName}, *ttl)
	} else {
		tok, err = askDevServer(ctx, *endpoint, map[string]any{
			"cluster": *cluster, "namespace": *namespace, "serviceAccount": *serviceAccount,
			"podName": *podName, "ttlSeconds": int64(ttl.Seconds()),
		})
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity token: %v\n", err)
		return 1
	}
	// A token file must not end in a newline: the AWS SDK for JavaScript
	// sends the file's bytes as the Authorization header and fails on it.
	if *output != "" {
		if err := os.WriteFile(*output, []byte(tok), 0o600); err != nil {
			fmt.Fprintf(stderr, "podidentity token: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stdout, tok)
	if isTerminal(stdout) {
		fmt.Fprintln(stdout)
	}
	return 0
}

func signLocally(keyFile, issuer string, pod tokenmint.Pod, ttl time.Duration) (string, error) {
	if issuer == "" {
		return "", fmt.Errorf("--issuer is required with --key")
	}
	key, err := tokenmint.LoadPrivateKey(keyFile)
	if err != nil {
		return "", err
	}
	s, err := tokenmint.NewSigner(key, issuer)
	if err != nil {
		return "", err
	}
	return s.Mint(pod, time.Now(), ttl)
}

func askDevServer(ctx context.Context, endpoint string, req map[string]any) (string, error) {
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/podidentity/dev/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("asking the dev server at %s: %w (is `podidentity server --dev` running?)", endpoint, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("dev server at %s answered %s without a token (only `server --dev` mints tokens)", endpoint, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Header.Get("X-Amzn-ErrorType"), doc.Message)
	}
	return doc.Token, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
