package agent

import (
	"bytes"
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

// maxCredentialsFileBytes bounds the shared credentials file: a larger one
// is refused, not cut short. Real ones are a few hundred bytes.
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

	// read returns the file's bytes; tests replace it to rewrite the file
	// between reads, as a rotator writing in place would.
	read func() ([]byte, error)

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
	p := &SharedCredentialsFile{path: path, profile: profile, log: log}
	p.read = p.readFile
	return p
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
	data, err := p.read()
	if err != nil {
		return aws.Credentials{}, err
	}
	sum := sha256.Sum256(data)
	if p.creds.HasKeys() && sum == p.sum {
		return p.creds, nil
	}
	// The SDK's own parser, so that the file means what it means to every
	// other AWS tool on the node. It reads the file itself, so the file is
	// read again after it: a rotator rewriting the file in place may be
	// half-way through while the SDK reads, and a cut-off secret parses as
	// well as a whole one. Only a file that read the same before and after
	// is taken; otherwise the credentials read before stay in use and the
	// file is read again on the next call.
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
	again, err := p.read()
	if err != nil {
		return aws.Credentials{}, err
	}
	if !bytes.Equal(data, again) {
		return aws.Credentials{}, fmt.Errorf("the node's shared credentials file %s changed while it was read (being rewritten?)", p.path)
	}
	creds := sc.Credentials
	creds.Source = "SharedCredentialsFile(rotating): " + p.path
	if creds.AccessKeyID != p.creds.AccessKeyID {
		p.log.Info("node credentials loaded", "file", p.path, "access_key_id", creds.AccessKeyID)
	}
	p.sum, p.creds = sum, creds
	return creds, nil
}

// readFile reads the whole file, refusing one larger than
// maxCredentialsFileBytes rather than parsing a part of it.
func (p *SharedCredentialsFile) readFile() ([]byte, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return nil, fmt.Errorf("the node's shared credentials file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("the node's shared credentials file: %w", err)
	}
	tooBig := fmt.Errorf("the node's shared credentials file %s is larger than %d bytes; a credentials file is a few hundred", p.path, maxCredentialsFileBytes)
	if fi.Size() > maxCredentialsFileBytes {
		return nil, tooBig
	}
	// The size may grow between Stat and reading: one byte more than the
	// bound tells.
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the node's shared credentials file %s: %w", p.path, err)
	}
	if len(data) > maxCredentialsFileBytes {
		return nil, tooBig
	}
	return data, nil
}
