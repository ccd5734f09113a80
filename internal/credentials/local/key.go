package local

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// SecretSize is the size of a sealing key's secret: an AES-256 key.
const SecretSize = 32

// maxKeyIDLen keeps the key id, which travels in every token, short.
const maxKeyIDLen = 64

// maxKeyFileSize bounds what LoadKeyFile reads: a key file holds 44
// characters of base64 and perhaps a newline; anything much larger is the
// wrong file.
const maxKeyFileSize = 1024

// Key is a session token sealing key. The ID is written, in clear, into
// every token the key seals, so that any replica holding the key can pick it
// to open the token; it should say when or why the key was made
// ("2025-06", "k2"), never anything secret.
//
// Key formats itself (with %v, %+v, %#v, %s and slog) as its ID only, so a
// stray log line cannot leak the secret.
type Key struct {
	ID     string
	Secret []byte // SecretSize bytes
}

// String returns a description of the key without its secret.
func (k Key) String() string { return fmt.Sprintf("local key %q", k.ID) }

// Format makes every fmt verb print String, secret withheld.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue makes slog log only the key's ID.
func (k Key) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

// SecretBase64 returns the secret in the form ParseKey and LoadKeyFile read.
// It exists for tools that generate key files; nothing else should call it.
func (k Key) SecretBase64() string { return base64.StdEncoding.EncodeToString(k.Secret) }

func validKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id must have 1 to %d characters", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("key id %q: only letters, digits, '-', '_' and '.' are allowed", id)
		}
	}
	return nil
}

// GenerateKey returns a new key with a secret read from rnd (nil:
// crypto/rand).
func GenerateKey(id string, rnd io.Reader) (Key, error) {
	if err := validKeyID(id); err != nil {
		return Key{}, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	secret := make([]byte, SecretSize)
	if _, err := io.ReadFull(rnd, secret); err != nil {
		return Key{}, fmt.Errorf("local key %q: reading randomness: %w", id, err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// ParseKey returns the key whose secret is the base64 (standard or URL
// alphabet, padded or not) of SecretSize bytes. Errors never contain the
// secret or any part of it.
func ParseKey(id, secretBase64 string) (Key, error) {
	if err := validKeyID(id); err != nil {
		return Key{}, err
	}
	secret, err := decodeSecret([]byte(secretBase64))
	if err != nil {
		return Key{}, fmt.Errorf("local key %q: %w", id, err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// LoadKeyFile reads a key whose file holds the base64 of SecretSize bytes,
// with trailing whitespace allowed (editors and `echo` add a newline).
// Errors name the key and the file, never its contents.
func LoadKeyFile(id, path string) (Key, error) {
	if err := validKeyID(id); err != nil {
		return Key{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("local key %q: %w", id, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("local key %q: reading %s: %w", id, path, err)
	}
	if len(data) > maxKeyFileSize {
		return Key{}, fmt.Errorf("local key %q: %s is larger than %d bytes; a key file holds only the base64 of %d bytes", id, path, maxKeyFileSize, SecretSize)
	}
	secret, err := decodeSecret(bytes.TrimRight(data, " \t\r\n"))
	clear(data)
	if err != nil {
		return Key{}, fmt.Errorf("local key %q: %s: %w", id, path, err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// decodeSecret deliberately drops the base64 package's errors: they are
// harmless offsets today, but nothing about the input goes into an error.
func decodeSecret(text []byte) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		secret := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(secret, text)
		if err != nil {
			clear(secret)
			continue
		}
		if n != SecretSize {
			clear(secret)
			return nil, fmt.Errorf("secret is %d bytes, want %d (base64 of %d random bytes, e.g. `head -c %d /dev/urandom | base64`)", n, SecretSize, SecretSize, SecretSize)
		}
		return secret[:n], nil
	}
	return nil, fmt.Errorf("secret is not base64 (want the base64 of %d random bytes)", SecretSize)
}

// Keyring holds the keys session tokens are sealed and opened with. The
// first key seals; every key opens. Rotation is therefore: add the new key
// second on every replica, then move it first, then drop the old key once
// the longest-lived credentials it sealed have expired. Live credentials
// keep working throughout.
//
// A Keyring is immutable and safe for concurrent use.
type Keyring struct {
	sealID string
	seal   cipher.AEAD
	open   map[string]cipher.AEAD
	ids    []string
	// strict decodes tokens; made once because Strict copies the encoding.
	strict *base64.Encoding
}

// NewKeyring returns a keyring whose first key seals. It keeps no copy of
// the secrets, only the ciphers made from them.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys; at least one key is needed to seal session tokens")
	}
	kr := &Keyring{open: make(map[string]cipher.AEAD, len(keys)), strict: base64.RawURLEncoding.Strict()}
	var errs []error
	for i, k := range keys {
		if err := validKeyID(k.ID); err != nil {
			errs = append(errs, fmt.Errorf("keyring: key %d: %w", i, err))
			continue
		}
		if len(k.Secret) != SecretSize {
			errs = append(errs, fmt.Errorf("keyring: local key %q: secret is %d bytes, want %d", k.ID, len(k.Secret), SecretSize))
			continue
		}
		if _, dup := kr.open[k.ID]; dup {
			errs = append(errs, fmt.Errorf("keyring: key id %q appears twice", k.ID))
			continue
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("keyring: local key %q: %w", k.ID, err))
			continue
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			errs = append(errs, fmt.Errorf("keyring: local key %q: %w", k.ID, err))
			continue
		}
		kr.open[k.ID] = aead
		kr.ids = append(kr.ids, k.ID)
		if i == 0 {
			kr.sealID, kr.seal = k.ID, aead
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return kr, nil
}

// SealingKeyID is the id of the key new tokens are sealed with.
func (kr *Keyring) SealingKeyID() string { return kr.sealID }

// KeyIDs lists the ids of all keys, the sealing key first.
func (kr *Keyring) KeyIDs() []string { return append([]string(nil), kr.ids...) }
