package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/testenv"
)

// writeCert writes a self-signed certificate for cn and its key.
func writeCert(t *testing.T, certFile, keyFile, cn string, mtime time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for f, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func servedCN(t *testing.T, r *CertReloader) string {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	base := time.Unix(1_700_000_000, 0)
	writeCert(t, certFile, keyFile, "first", base)
	clock := testenv.NewClock(base)
	r, err := NewCertReloader(certFile, keyFile, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, r); cn != "first" {
		t.Fatalf("serving %q", cn)
	}

	// Renewed: picked up once the check interval has passed.
	writeCert(t, certFile, keyFile, "second", base.Add(time.Minute))
	if cn := servedCN(t, r); cn != "first" {
		t.Errorf("files checked before the interval: serving %q", cn)
	}
	clock.Advance(certCheckInterval)
	if cn := servedCN(t, r); cn != "second" {
		t.Errorf("after renewal: serving %q, want second", cn)
	}

	// Caught half-written: the previous certificate stays.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(certCheckInterval)
	if cn := servedCN(t, r); cn != "second" {
		t.Errorf("after a broken write: serving %q, want second", cn)
	}
	// Completed: loaded at the next check.
	writeCert(t, certFile, keyFile, "third", base.Add(2*time.Minute))
	clock.Advance(certCheckInterval)
	if cn := servedCN(t, r); cn != "third" {
		t.Errorf("after the write completed: serving %q, want third", cn)
	}
}

func TestCertReloaderFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewCertReloader(filepath.Join(dir, "no.crt"), filepath.Join(dir, "no.key"), nil, nil); err == nil {
		t.Error("missing files: no error")
	}
}
