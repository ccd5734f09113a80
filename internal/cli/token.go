package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podidentity/podidentity/internal/tokenmint"
)

// defaultAudience is the audience EKS Auth accepts, as the pod's projected
// token carries it.
const defaultAudience = "pods.eks.amazonaws.com"

type tokenOptions struct {
	cluster, namespace, serviceAccount, podName string
	endpoint, keyFile, issuer, output, audience string
	ttl                                         time.Duration
}

func newTokenCommand(stdout, stderr io.Writer) *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a pod's service-account token, to exchange for credentials",
		Long: `Mint a pod-bound service-account token: from a --dev server's cluster (the
server alone holds that key), or with --key and --issuer for any cluster whose
signing key you hold. --audience mints tokens the server must refuse, for
testing.`,
		Example: `  podidentity token --service-account app
  podidentity token --key sa.key --issuer https://issuer.example --namespace batch --service-account loader --output token`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runToken(cmd.Context(), o, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.cluster, "cluster", "demo", "cluster name (of a --dev server)")
	fs.StringVar(&o.namespace, "namespace", "default", "pod namespace")
	fs.StringVar(&o.serviceAccount, "service-account", "", required("service account name"))
	fs.StringVar(&o.podName, "pod-name", "", "pod name (default SERVICE-ACCOUNT-dev)")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "token lifetime")
	fs.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:8080", "URL of the --dev server")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key to sign with instead of asking a dev server")
	fs.StringVar(&o.issuer, "issuer", "", "issuer (iss) to put in the token; required with --key")
	fs.StringVar(&o.audience, "audience", defaultAudience, "audience (aud) to put in the token; another one is refused by EKS Auth")
	fs.StringVar(&o.output, "output", "", "write the token to this file (no trailing newline) instead of stdout")
	return cmd
}

// validate reports every misuse at once.
func (o tokenOptions) validate() error {
	var errs []error
	if o.serviceAccount == "" {
		errs = append(errs, errors.New("--service-account is required"))
	}
	if o.keyFile != "" && o.issuer == "" {
		errs = append(errs, errors.New("--issuer is required with --key"))
	}
	if o.keyFile == "" && o.issuer != "" {
		errs = append(errs, errors.New("--issuer needs --key: a dev server signs with its own issuer"))
	}
	if o.audience == "" {
		errs = append(errs, errors.New("--audience must not be empty"))
	}
	if o.ttl <= 0 {
		errs = append(errs, fmt.Errorf("--ttl %s must be positive", o.ttl))
	}
	return errors.Join(errs...)
}

// runToken mints a pod-bound service-account token.
func runToken(ctx context.Context, o tokenOptions, stdout, stderr io.Writer) int {
	if err := o.validate(); err != nil {
		fmt.Fprintf(stderr, "podidentity token: %v\n", err)
		return 2
	}
	if o.podName == "" {
		o.podName = o.serviceAccount + "-dev"
	}
	var (
		tok string
		err error
	)
	if o.keyFile != "" {
		pod := tokenmint.Pod{Namespace: o.namespace, ServiceAccount: o.serviceAccount, PodName: o.podName, Audience: []string{o.audience}}
		tok, err = signLocally(o.keyFile, o.issuer, pod, o.ttl)
	} else {
		req := map[string]any{
			"cluster": o.cluster, "namespace": o.namespace, "serviceAccount": o.serviceAccount,
			"podName": o.podName, "ttlSeconds": int64(o.ttl.Seconds()),
		}
		if o.audience != defaultAudience {
			// Only when asked: a dev server older than this field refuses
			// any member it does not know.
			req["audience"] = o.audience
		}
		tok, err = askDevServer(ctx, o.endpoint, req)
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity token: %v\n", err)
		return 1
	}
	// A token file must not end in a newline: the AWS SDK for JavaScript
	// sends the file's bytes as the Authorization header and fails on it.
	if o.output != "" {
		if err := os.WriteFile(o.output, []byte(tok), 0o600); err != nil {
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
	if err := refusePublicKey(keyFile); err != nil {
		return "", err
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

// refusePublicKey names the likely mix-up: the cluster's public key (what
// the server is configured with) given where the private key belongs.
func refusePublicKey(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	public := json.Valid(b) // a JWKS holds public keys only
	if block, _ := pem.Decode(b); block != nil {
		public = strings.Contains(block.Type, "PUBLIC KEY") || block.Type == "CERTIFICATE"
	}
	if public {
		return fmt.Errorf("--key %s holds a public key; signing needs the cluster's private key "+
			"(kubeadm: /etc/kubernetes/pki/sa.key, not sa.pub; the server is the one given the public key)", path)
	}
	return nil
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
		return "", fmt.Errorf("asking the dev server at %s: %w (is `podidentity server --dev` running? "+
			"For a configured cluster, sign with its key: --key FILE --issuer URL)", endpoint, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc)
	if resp.StatusCode == http.StatusNotFound || (resp.StatusCode == http.StatusOK && (decodeErr != nil || doc.Token == "")) ||
		(resp.StatusCode != http.StatusOK && decodeErr != nil) {
		// Only `server --dev` serves the token endpoint; a configured
		// server leaves signing to whoever holds the cluster's key.
		return "", fmt.Errorf("the server at %s mints no tokens (%s): only `podidentity server --dev` does; "+
			"for a configured cluster, sign with the key its jwksFile holds the public half of: --key FILE --issuer URL", endpoint, resp.Status)
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
