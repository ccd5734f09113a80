// Package tokenmint mints pod-bound service-account tokens shaped exactly as
// kube-apiserver mints projected tokens for a pod: issuer, audience,
// sub system:serviceaccount:NS:SA and the kubernetes.io claim naming the
// namespace, service account and pod. The dev server and `podidentity token`
// use it to stand in for a cluster; tests use it to stand in for the kubelet.
package tokenmint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Pod names the pod a token is for. Empty UIDs are derived: the service
// account's from its name (stable, as a real one is), the pod's at random.
type Pod struct {
	Namespace         string
	ServiceAccount    string
	ServiceAccountUID string
	PodName           string
	PodUID            string
	Audience          []string // default pods.eks.amazonaws.com
}

// Signer signs tokens for one issuer with one key.
type Signer struct {
	issuer string
	signer jose.Signer
	public jose.JSONWebKey
}

// NewSigner signs with an RSA key (RS256) or a P-256 key (ES256), the
// algorithms kube-apiserver uses. The key id is derived from the public
// key, as kube-apiserver derives it.
func NewSigner(key crypto.Signer, issuer string) (*Signer, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("tokenmint: only P-256 EC keys are supported (ES256)")
		}
		alg = jose.ES256
	default:
		return nil, fmt.Errorf("tokenmint: unsupported key type %T", key)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("tokenmint: %w", err)
	}
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("tokenmint: %w", err)
	}
	return &Signer{
		issuer: issuer,
		signer: signer,
		public: jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"},
	}, nil
}

// Issuer is the iss of the tokens.
func (s *Signer) Issuer() string { return s.issuer }

// JWKS is the public key set a validator needs.
func (s *Signer) JWKS() *jose.JSONWebKeySet {
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.public}}
}

type kubernetesClaim struct {
	Namespace      string `json:"namespace"`
	Pod            *ref   `json:"pod,omitempty"`
	ServiceAccount ref    `json:"serviceaccount"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Mint returns a signed token for p, valid from now for ttl.
func (s *Signer) Mint(p Pod, now time.Time, ttl time.Duration) (string, error) {
	if p.Namespace == "" || p.ServiceAccount == "" {
		return "", errors.New("tokenmint: namespace and service account are required")
	}
	if ttl <= 0 {
		return "", errors.New("tokenmint: ttl must be positive")
	}
	aud := p.Audience
	if len(aud) == 0 {
		aud = []string{"pods.eks.amazonaws.com"}
	}
	saUID := p.ServiceAccountUID
	if saUID == "" {
		saUID = uuid.NewSHA1(uuid.NameSpaceURL, []byte("serviceaccount/"+p.Namespace+"/"+p.ServiceAccount)).String()
	}
	k8s := kubernetesClaim{Namespace: p.Namespace, ServiceAccount: ref{Name: p.ServiceAccount, UID: saUID}}
	if p.PodName != "" {
		podUID := p.PodUID
		if podUID == "" {
			podUID = uuid.NewString()
		}
		k8s.Pod = &ref{Name: p.PodName, UID: podUID}
	}
	claims := jwt.Claims{
		Issuer:    s.issuer,
		Subject:   "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount,
		Audience:  aud,
		Expiry:    jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	}
	return jwt.Signed(s.signer).Claims(claims).Claims(map[string]any{"kubernetes.io": k8s}).Serialize()
}

// LoadPrivateKey reads a PEM private key: PKCS#1 RSA, SEC 1 EC or PKCS#8.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not a signing key", path, k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s: unsupported PEM block %q", path, block.Type)
}
