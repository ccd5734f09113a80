package satoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	jose "github.com/go-jose/go-jose/v4"
)

// minRSABits refuses RSA keys that are too short to be trusted. Kubernetes
// generates 2048-bit keys and up.
const minRSABits = 2048

// verificationKey is one public key a cluster signs tokens with.
type verificationKey struct {
	kid string
	alg string // the JWK's own "alg", "" when it names none
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	// thumb is the key's RFC 7638 SHA-256 thumbprint. It names the key
	// across reloads of the set, so that a cached verification can be
	// dropped when its key disappears.
	thumb string
}

// keySet is an immutable set of keys; sources swap whole sets.
type keySet struct {
	keys []*verificationKey
}

// matches reports whether k may have signed a token with this kid and alg.
// A key or token without a kid matches any kid: Kubernetes has always
// set both, but hand-written JWKS files often have no kid.
func (k *verificationKey) matches(kid, alg string) bool {
	switch alg {
	case algRS256:
		if k.rsa == nil {
			return false
		}
	case algES256:
		if k.ec == nil {
			return false
		}
	default:
		return false
	}
	if k.alg != "" && k.alg != alg {
		return false
	}
	return kid == "" || k.kid == "" || k.kid == kid
}

func (ks *keySet) anyCandidate(kid, alg string) bool {
	for _, k := range ks.keys {
		if k.matches(kid, alg) {
			return true
		}
	}
	return false
}

// verify returns the key whose signature t carries, or nil.
func (ks *keySet) verify(t *parsedToken) *verificationKey {
	digest := sha256.Sum256([]byte(t.signed))
	for _, k := range ks.keys {
		if k.matches(t.kid, t.alg) && verifySignature(k, t.alg, digest[:], t.sig) {
			return k
		}
	}
	return nil
}

func (ks *keySet) has(thumb string) bool {
	for _, k := range ks.keys {
		if k.thumb == thumb {
			return true
		}
	}
	return false
}

// newKeySet keeps the keys that can verify RS256 or ES256 and logs why it
// skips the others; a set left with no key at all is an error.
func newKeySet(jwks []jose.JSONWebKey, log *slog.Logger) (*keySet, error) {
	ks := &keySet{}
	for i := range jwks {
		k, err := toVerificationKey(&jwks[i])
		if err != nil {
			log.Warn("skipping key", "kid", jwks[i].KeyID, "reason", err.Error())
			continue
		}
		ks.keys = append(ks.keys, k)
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("no usable key among %d: need RSA (%d bits or more) or EC P-256 public keys for signatures", len(jwks), minRSABits)
	}
	return ks, nil
}

func toVerificationKey(j *jose.JSONWebKey) (*verificationKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("its use is %q, not \"sig\"", j.Use)
	}
	k := &verificationKey{kid: j.KeyID, alg: j.Algorithm}
	var pub crypto.PublicKey
	switch key := j.Key.(type) {
	case *rsa.PublicKey:
		k.rsa = key
	case *rsa.PrivateKey:
		k.rsa = &key.PublicKey
	case *ecdsa.PublicKey:
		k.ec = key
	case *ecdsa.PrivateKey:
		k.ec = &key.PublicKey
	default:
		return nil, fmt.Errorf("a %T key cannot verify RS256 or ES256 signatures", j.Key)
	}
	switch {
	case k.rsa != nil:
		if k.rsa.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits, fewer than %d", k.rsa.N.BitLen(), minRSABits)
		}
		if k.alg != "" && k.alg != algRS256 {
			return nil, fmt.Errorf("the RSA key is for %q, not RS256", k.alg)
		}
		pub = k.rsa
	default:
		if k.ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("the EC key is on %s, not P-256", k.ec.Curve.Params().Name)
		}
		if k.alg != "" && k.alg != algES256 {
			return nil, fmt.Errorf("the EC key is for %q, not ES256", k.alg)
		}
		pub = k.ec
	}
	thumb, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("computing its thumbprint: %w", err)
	}
	k.thumb = string(thumb)
	return k, nil
}

// parseKeys reads a JSON Web Key Set, or PEM public keys or certificates
// (what a cluster's --service-account-key-file holds, on the public side).
func parseKeys(data []byte, log *slog.Logger) (*keySet, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return parsePEMKeys(trimmed, log)
	}
	return parseJWKS(data, log)
}

// parseJWKS decodes each key on its own, so that one key of a type we do
// not know (a cluster may publish more than it signs with) does not make
// us throw the whole set away.
func parseJWKS(data []byte, log *slog.Logger) (*keySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	if raw.Keys == nil {
		return nil, errors.New(`not a JSON Web Key Set: no "keys" member`)
	}
	jwks := make([]jose.JSONWebKey, 0, len(raw.Keys))
	for i, rk := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(rk); err != nil {
			log.Warn("skipping key", "index", i, "reason", err.Error())
			continue
		}
		if !k.IsPublic() {
			log.Warn("the key set holds private key material; only the public part is used", "kid", k.KeyID)
		}
		jwks = append(jwks, k)
	}
	return newKeySet(jwks, log)
}

// parsePEMKeys gives each key the kid Kubernetes gives it, the unpadded
// base64url SHA-256 of its PKIX DER encoding, so the tokens' kid matches.
// Private keys are refused: this server only ever needs the public half.
func parsePEMKeys(data []byte, log *slog.Logger) (*keySet, error) {
	var jwks []jose.JSONWebKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return nil, fmt.Errorf("PEM block %d is a private key; give the public key instead", n)
		default:
			log.Warn("skipping PEM block", "index", n, "type", block.Type)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		sum := sha256.Sum256(der)
		jwks = append(jwks, jose.JSONWebKey{Key: pub, KeyID: base64.RawURLEncoding.EncodeToString(sum[:]), Use: "sig"})
	}
	if len(jwks) == 0 {
		return nil, errors.New("no PEM public keys found")
	}
	return newKeySet(jwks, log)
}
