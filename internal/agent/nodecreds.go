package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// maxCredentialsFileBytes bounds what is read of the shared credentials
// file on each upstream call; real ones are a few hundred bytes.
const maxCredentialsFileBytes = 1 << 20

// SharedCredentialsFile is the node's AWS credentials from a shared
// credentials file that something else rotates: IAM Roles Anywhere's
// credential helper and nodeadm (hybrid nodes) rewrite it with a fresh
// session well before the old one expires. It is the AWS agent's
// --rotate-credentials. The AWS agent reads the file once a minute; this
// reads it on every upstream call (a stat-sized read of a small file, and
// upstream calls are rare) and parses it again only when its bytes
// changed, so a rotated key is used from the very next call and an
// unchanged file costs no parsing.
//
// The EKS Auth client does not wrap its provider in a cache, so Retrieve
// runs before every signature; do not wrap this one in aws.CredentialsCache
// either, or rotations would go unseen until the cached copy expired.
type SharedCredentialsFile struct {
	path, profile string
	log           *slog.Logger

	mu    sync.Mutex
	sum   [sha256.Size]byte // of the bytes the credentials were parsed from
	creds aws.Credentials
}

// NewSharedCredentialsFile reads profile ("" for default) of the shared
// credentials file at path.
func NewSharedCredentialsFile(path, profile string, log *slog.Logger) *SharedCredentialsFile {
	if profile == "" {
		profile = config.DefaultSharedConfigProfile
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SharedCredentialsFile{path: path, profile: profile, log: log}
}

// DefaultSharedCredentialsFile is where the AWS SDKs look:
// AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.
func DefaultSharedCredentialsFile() string {
	if p := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); p != "" {
		return p
	}
	return config.DefaultSharedCredentialsFilename()
}

// Retrieve returns the credentials the file holds now. A file caught
// half-written, or gone for a moment while it is replaced, leaves the
// credentials read before in use; the error is only for a file never read.
func (p *SharedCredentialsFile) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	creds, err := p.reload(ctx)
	if err == nil {
		return creds, nil
	}
	if p.creds.HasKeys() {
		p.log.Warn("cannot read the node's rotated credentials; using those read before", "file", p.path, "err", err)
		return p.creds, nil
	}
	return aws.Credentials{}, err
}

func (p *SharedCredentialsFile) reload(ctx context.Context) (aws.Credentials, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("the node's shared credentials file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFileBytes))
	f.Close()
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("reading the node's shared credentials file %s: %w", p.path, err)
	}
	sum := sha256.Sum256(data)
	if p.creds.HasKeys() && sum == p.sum {
		return p.creds, nil
	}
	// The SDK's own parser, so that the file means what it means to every
	// other AWS tool on the node. It reads the file again; if it changed
	// in between, the sums differ on the next call and it is read again.
	sc, err := config.LoadSharedConfigProfile(ctx, p.profile, func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles = []string{}
		o.CredentialsFiles = []string{p.path}
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("the node's shared credentials file %s, profile %s: %w", p.path, p.profile, err)
	}
	if !sc.Credentials.HasKeys() {
		return aws.Credentials{}, fmt.Errorf("the node's shared credentials file %s has no access key in profile %s", p.path, p.profile)
	}
	creds := sc.Credentials
	creds.Source = "SharedCredentialsFile(rotating): " + p.path
	if creds.AccessKeyID != p.creds.AccessKeyID {
		p.log.Info("node credentials loaded", "file", p.path, "access_key_id", creds.AccessKeyID)
	}
	p.sum, p.creds = sum, creds
	return creds, nil
}
