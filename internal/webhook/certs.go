package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval limits how often the files are stat'ed on the
// handshake path.
const certCheckInterval = time.Second

// CertReloader serves a TLS certificate from files and loads them again
// when they change, so that a certificate renewed by cert-manager (which
// updates the Secret; the kubelet then swaps the mounted files) is used
// without a restart. A pair that cannot be loaded, say one caught half
// written, leaves the previous certificate in place.
type CertReloader struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp
	lastCheck time.Time
}

type fileStamp struct {
	modTime int64 // unix nanoseconds
	size    int64
}

// NewCertReloader loads the pair now, so that a bad configuration fails at
// start. now nil means time.Now; log nil discards.
func NewCertReloader(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*CertReloader, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, now: now, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	r.lastCheck = now()
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= certCheckInterval {
		r.lastCheck = now
		if err := r.reload(); err != nil {
			r.log.Warn("cannot reload the TLS certificate; serving the one loaded before", "err", err)
		}
	}
	return r.cert, nil
}

// reload loads the pair if either file changed. Callers hold mu, except
// NewCertReloader.
func (r *CertReloader) reload() error {
	var stamp [2]fileStamp
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		stamp[i] = fileStamp{fi.ModTime().UnixNano(), fi.Size()}
	}
	if r.cert != nil && stamp == r.stamp {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.stamp = &cert, stamp
	if cert.Leaf != nil {
		r.log.Info("loaded TLS certificate", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	return nil
}
