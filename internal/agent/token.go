package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxTokenBytes bounds what the agent parses. Projected service-account
// tokens are about a kilobyte; the bound only keeps garbage cheap.
const maxTokenBytes = 16 << 10

// notBeforeLeeway tolerates a node clock a little behind kube-apiserver's,
// which stamps nbf with its own "now".
const notBeforeLeeway = time.Minute

// tokenKey identifies a token in the cache without holding it in a form
// that could leak: the SHA-256 of its bytes.
type tokenKey [sha256.Size]byte

// String is a short, non-reversible id for logs.
func (k tokenKey) String() string { return hex.EncodeToString(k[:6]) }

// podToken is what the agent reads from a pod's service-account token. The
// signature is not checked: EKS Auth validates the token; the agent refuses
// only what is not a live JWT at all, as the AWS agent does, and reads the
// expiry (to stop refreshing) and the pod (for logs).
type podToken struct {
	raw            string
	key            tokenKey
	expires        time.Time // zero without an exp claim
	issued         time.Time // iat; zero without one
	namespace      string
	serviceAccount string
	podName        string
	// pod names the pod the token is bound to, to find the pod's cached
	// credentials when the kubelet rotates its token. Parsed, not
	// verified: it may be used only after the token's signature is (see
	// reuse.go), or because EKS Auth accepted the token.
	pod podKey
}

// podKey identifies one pod (and the service account its token is for)
// across its token's rotations. Its zero value names no pod.
type podKey struct {
	issuer, namespace, serviceAccount, serviceAccountUID, podUID string
}

func (k podKey) ok() bool { return k.podUID != "" && k.namespace != "" && k.serviceAccount != "" }

// errBadToken is a token the agent refuses before asking upstream (400).
type errBadToken struct{ msg string }

func (e *errBadToken) Error() string { return e.msg }

func badToken(format string, args ...any) error {
	return &errBadToken{msg: fmt.Sprintf(format, args...)}
}

// parseToken checks that raw looks like a JWT whose exp and nbf admit now.
func parseToken(raw string, now time.Time) (podToken, error) {
	if raw == "" {
		return podToken{}, badToken("Service account token cannot be empty")
	}
	if len(raw) > maxTokenBytes {
		return podToken{}, badToken("Service account token cannot be parsed: longer than %d bytes", maxTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return podToken{}, badToken("Service account token cannot be parsed: a JWT has 3 dot-separated parts, this has %d", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return podToken{}, badToken("Service account token cannot be parsed: header: %v", err)
	}
	if header.Alg == "" {
		return podToken{}, badToken("Service account token cannot be parsed: header has no alg")
	}
	var claims struct {
		Iss        string          `json:"iss"`
		Exp        json.RawMessage `json:"exp"`
		Iat        json.RawMessage `json:"iat"`
		Nbf        json.RawMessage `json:"nbf"`
		Kubernetes struct {
			Namespace string `json:"namespace"`
			Pod       struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"pod"`
			ServiceAccount struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return podToken{}, badToken("Service account token cannot be parsed: claims: %v", err)
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || parts[2] == "" {
		return podToken{}, badToken("Service account token cannot be parsed: the signature is not base64url")
	}
	exp, err := numericDate("exp", claims.Exp)
	if err != nil {
		return podToken{}, err
	}
	nbf, err := numericDate("nbf", claims.Nbf)
	if err != nil {
		return podToken{}, err
	}
	iat, err := numericDate("iat", claims.Iat)
	if err != nil {
		return podToken{}, err
	}
	if !exp.IsZero() && !now.Before(exp) {
		return podToken{}, badToken("Service account token failed basic claim validations: token is expired")
	}
	if !nbf.IsZero() && now.Add(notBeforeLeeway).Before(nbf) {
		return podToken{}, badToken("Service account token failed basic claim validations: token is not valid yet")
	}
	k := claims.Kubernetes
	return podToken{
		raw:            raw,
		key:            sha256.Sum256([]byte(raw)),
		expires:        exp,
		issued:         iat,
		namespace:      k.Namespace,
		serviceAccount: k.ServiceAccount.Name,
		podName:        k.Pod.Name,
		pod: podKey{issuer: claims.Iss, namespace: k.Namespace, serviceAccount: k.ServiceAccount.Name,
			serviceAccountUID: k.ServiceAccount.UID, podUID: k.Pod.UID},
	}, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object of the expected shape")
	}
	return nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional); absent or null is the zero time.
func numericDate(name string, raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, badToken("Service account token cannot be parsed: %s is not a NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
