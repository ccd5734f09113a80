package local

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/sigv4"
)

// A session token is base64url (no padding) of
//
//	version   1 byte, tokenVersion
//	keyIDLen  1 byte
//	keyID     keyIDLen bytes
//	nonce     12 random bytes
//	sealed    AES-256-GCM of the encoded principal, with its 16-byte tag
//
// The version and key id are the additional authenticated data: in clear so
// that a replica can pick the key before decrypting, authenticated so that
// nobody can move a token to another key or format. base64url needs no
// escaping in a header, a query string (presigned URLs) or JSON, and AWS
// SDKs treat session tokens as opaque strings.

const (
	tokenVersion = 1
	nonceSize    = 12
	gcmTagSize   = 16
	minSealedLen = 2 + 1 + nonceSize + gcmTagSize // smallest possible token, decoded
)

// MaxTokenLen bounds session tokens, both the ones Seal makes and the ones
// Open will look at. A typical token is about 500 characters; only sessions
// with dozens of long tags or a long policy come near the bound, and STS
// refuses those too (PackedPolicyTooLarge). 8 KiB is also what common
// proxies allow for a whole header line.
const MaxTokenLen = 8192

const (
	msgInvalidToken = "The security token included in the request is invalid."
	msgExpiredToken = "The security token included in the request is expired"
)

func invalidToken(cause error) *sigv4.Error {
	return &sigv4.Error{Kind: sigv4.InvalidSessionToken, Message: msgInvalidToken, Err: cause}
}

// errTokenTooLarge is what sealing a principal too big for MaxTokenLen
// returns; Issue turns it into a client error.
var errTokenTooLarge = errors.New("session token would exceed the maximum size")

// sealPrincipal encrypts the encoding of p under the sealing key, with a
// nonce read from rnd.
func (kr *Keyring) sealPrincipal(p *podidentity.SessionPrincipal, rnd io.Reader) (string, error) {
	if sec := p.Expiration.Unix(); sec < minUnix || sec > maxUnix {
		return "", fmt.Errorf("sealing session token: expiration %s is outside years 1 to 9999", p.Expiration)
	}
	hdr := 2 + len(kr.sealID)
	buf := make([]byte, hdr+nonceSize, hdr+nonceSize+encodedSizeHint(p)+gcmTagSize)
	buf[0] = tokenVersion
	buf[1] = byte(len(kr.sealID))
	copy(buf[2:], kr.sealID)
	nonce := buf[hdr : hdr+nonceSize]
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return "", fmt.Errorf("sealing session token: reading randomness: %w", err)
	}
	buf = appendPrincipal(buf, p)
	plaintext := buf[hdr+nonceSize:]
	if n := base64.RawURLEncoding.EncodedLen(len(buf) + gcmTagSize); n > MaxTokenLen {
		clear(plaintext)
		return "", fmt.Errorf("%w: %d characters, at most %d", errTokenTooLarge, n, MaxTokenLen)
	}
	// Encrypt in place: the ciphertext overwrites the plaintext exactly,
	// which the AEAD interface allows.
	sealed := kr.seal.Seal(buf[:hdr+nonceSize], nonce, plaintext, buf[:hdr])
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPrincipal authenticates and decodes a token. It does not look at the
// expiration. Every failure is a sigv4.InvalidSessionToken *sigv4.Error
// whose Err says why, for logs; none quotes the token.
func (kr *Keyring) openPrincipal(token string) (*podidentity.SessionPrincipal, error) {
	if len(token) > MaxTokenLen {
		return nil, invalidToken(fmt.Errorf("session token is %d characters, at most %d are accepted", len(token), MaxTokenLen))
	}
	if len(token) < base64.RawURLEncoding.EncodedLen(minSealedLen) {
		return nil, invalidToken(fmt.Errorf("session token is %d characters, too short to be one of ours", len(token)))
	}
	// Strict decoding and the alphabet check make the text canonical: the
	// decoder would otherwise skip newlines and ignore the low bits of the
	// last character, so several strings would open as one token.
	if !base64URLText(token) {
		return nil, invalidToken(errors.New("session token has characters outside base64url"))
	}
	buf, err := kr.strict.DecodeString(token)
	if err != nil {
		return nil, invalidToken(errors.New("session token is not canonical base64url"))
	}
	if buf[0] != tokenVersion {
		return nil, invalidToken(fmt.Errorf("session token version %d is not supported", buf[0]))
	}
	idLen := int(buf[1])
	hdr := 2 + idLen
	if idLen == 0 || len(buf) < hdr+nonceSize+gcmTagSize {
		return nil, invalidToken(errors.New("session token is truncated"))
	}
	keyID := buf[2:hdr]
	// The map lookup with string(keyID) does not allocate.
	aead, ok := kr.open[string(keyID)]
	if !ok {
		return nil, invalidToken(fmt.Errorf("session token sealed with key %q, which is not in the keyring", sanitizeKeyID(keyID)))
	}
	nonce := buf[hdr : hdr+nonceSize]
	ciphertext := buf[hdr+nonceSize:]
	plaintext, err := aead.Open(ciphertext[:0], nonce, ciphertext, buf[:hdr])
	if err != nil {
		return nil, invalidToken(fmt.Errorf("session token does not authenticate under key %q", keyID))
	}
	p, err := decodePrincipal(string(plaintext))
	clear(plaintext)
	if err != nil {
		return nil, invalidToken(fmt.Errorf("authenticated session token has a corrupt principal: %w", err))
	}
	return p, nil
}

// sanitizeKeyID makes an unauthenticated key id safe to log.
func sanitizeKeyID(id []byte) string {
	b := make([]byte, len(id))
	for i, c := range id {
		if c < 0x21 || c > 0x7e {
			c = '?'
		}
		b[i] = c
	}
	return string(b)
}

func base64URLText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
