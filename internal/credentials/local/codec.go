package local

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/credentials/session"
	"github.com/podidentity/podidentity/internal/podidentity"
)

// The plaintext of a session token is a compact binary record rather than
// JSON: it travels in an HTTP header on every AWS call a pod makes, and with
// the six EKS tags it makes a token of about 500 characters where JSON would
// make one of about 1,250 (TestTokenSize reports both). Layout, in order:
//
//	flags        byte, the flag* bits below
//	access key   10 raw bytes if flagAccessKeyPacked, else a string
//	secret       30 raw bytes if flagSecretPacked, else a string
//	expiration   varint Unix seconds, uvarint nanoseconds
//	role ARN     string
//	account      string, absent if flagAccountDerived
//	assumed ARN  string, absent if flagAssumedARNDerived
//	assumed id   string, absent if flagAssumedIDDerived
//	session name string
//	source id    string
//	policy       string
//	tags         uvarint count, then per tag: uvarint k (0: a string key
//	             follows; n>0: the n-th well-known EKS tag key), string value
//
// A string is a uvarint length and that many bytes. Fields the issuer
// always derives from the role ARN and session name are flagged rather than
// stored, which saves about 200 bytes; a principal whose fields were not so
// derived still round-trips, it just stores them.
const (
	flagAccountDerived = 1 << iota
	flagAssumedARNDerived
	flagAssumedIDDerived
	flagAccessKeyPacked
	flagSecretPacked
	flagsKnown = 1<<iota - 1
)

const (
	accessKeyPrefix    = "ASIA"
	accessKeyRandBytes = 10 // 16 base32 characters
	accessKeyLen       = len(accessKeyPrefix) + 16
	secretRandBytes    = 30 // 40 base64 characters
	secretLen          = 40
	maxNanos           = 999_999_999

	// Expirations are kept to years 1 through 9999, where time.Unix and
	// Time.Unix are exact inverses, so a decoded expiration is the sealed one.
	minUnix = -62135596800
	maxUnix = 253402300799
)

// wellKnownTag returns the n-th (1-based) EKS session tag key, "" for none.
// The numbering is part of the token format: append, never reorder.
func wellKnownTag(n uint64) string {
	switch n {
	case 1:
		return session.TagClusterARN
	case 2:
		return session.TagClusterName
	case 3:
		return session.TagNamespace
	case 4:
		return session.TagServiceAccount
	case 5:
		return session.TagPodName
	case 6:
		return session.TagPodUID
	}
	return ""
}

func wellKnownTagIndex(k string) uint64 {
	for n := uint64(1); ; n++ {
		switch wellKnownTag(n) {
		case "": // past the last one (checked first: k may be "" too)
			return 0
		case k:
			return n
		}
	}
}

// packAccessKey returns the 10 random bytes behind an access key id in the
// form this package mints, ok false for any other form.
func packAccessKey(id string) (raw [accessKeyRandBytes]byte, ok bool) {
	rest, found := strings.CutPrefix(id, accessKeyPrefix)
	if !found || len(id) != accessKeyLen {
		return raw, false
	}
	n, err := base32.StdEncoding.Decode(raw[:], []byte(rest))
	if err != nil || n != accessKeyRandBytes {
		return raw, false
	}
	return raw, true
}

func packSecret(secret string) (raw [secretRandBytes]byte, ok bool) {
	if len(secret) != secretLen {
		return raw, false
	}
	n, err := base64.StdEncoding.Decode(raw[:], []byte(secret))
	if err != nil || n != secretRandBytes {
		return raw, false
	}
	return raw, true
}

func formatAccessKey(raw *[accessKeyRandBytes]byte) string {
	var b [accessKeyLen]byte
	copy(b[:], accessKeyPrefix)
	base32.StdEncoding.Encode(b[len(accessKeyPrefix):], raw[:])
	return string(b[:])
}

func formatSecret(raw *[secretRandBytes]byte) string {
	var b [secretLen]byte
	base64.StdEncoding.Encode(b[:], raw[:])
	return string(b[:])
}

// appendPrincipal appends the encoding of p to b.
func appendPrincipal(b []byte, p *podidentity.SessionPrincipal) []byte {
	var flags byte
	if role, err := podidentity.ParseRoleARN(p.RoleARN); err == nil {
		if p.AccountID == role.Account {
			flags |= flagAccountDerived
		}
		if p.AssumedRoleARN == role.AssumedRole(p.SessionName) {
			flags |= flagAssumedARNDerived
		}
		if p.AssumedRoleID == assumedRoleID(p.RoleARN, p.SessionName) {
			flags |= flagAssumedIDDerived
		}
	}
	ak, akPacked := packAccessKey(p.AccessKeyID)
	if akPacked {
		flags |= flagAccessKeyPacked
	}
	sk, skPacked := packSecret(p.SecretAccessKey)
	if skPacked {
		flags |= flagSecretPacked
	}

	b = append(b, flags)
	if akPacked {
		b = append(b, ak[:]...)
	} else {
		b = appendString(b, p.AccessKeyID)
	}
	if skPacked {
		b = append(b, sk[:]...)
	} else {
		b = appendString(b, p.SecretAccessKey)
	}
	clear(sk[:])
	b = binary.AppendVarint(b, p.Expiration.Unix())
	b = binary.AppendUvarint(b, uint64(p.Expiration.Nanosecond()))
	b = appendString(b, p.RoleARN)
	if flags&flagAccountDerived == 0 {
		b = appendString(b, p.AccountID)
	}
	if flags&flagAssumedARNDerived == 0 {
		b = appendString(b, p.AssumedRoleARN)
	}
	if flags&flagAssumedIDDerived == 0 {
		b = appendString(b, p.AssumedRoleID)
	}
	b = appendString(b, p.SessionName)
	b = appendString(b, p.SourceIdentity)
	b = appendString(b, p.Policy)
	b = binary.AppendUvarint(b, uint64(len(p.SessionTags)))
	// Sorted so that equal principals encode equally, which keeps the
	// encoding testable; the random nonce still makes every token unique.
	var arr [8]string // the six EKS tags fit without a heap allocation
	keys := arr[:0]
	for k := range p.SessionTags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if n := wellKnownTagIndex(k); n > 0 {
			b = binary.AppendUvarint(b, n)
		} else {
			b = binary.AppendUvarint(b, 0)
			b = appendString(b, k)
		}
		b = appendString(b, p.SessionTags[k])
	}
	return b
}

// encodedSizeHint bounds the encoding's size from above, so that sealing
// allocates once and never leaves a copy of the secret in an outgrown
// buffer.
func encodedSizeHint(p *podidentity.SessionPrincipal) int {
	n := 64 + len(p.AccessKeyID) + len(p.SecretAccessKey) + len(p.RoleARN) + len(p.AccountID) +
		len(p.AssumedRoleARN) + len(p.AssumedRoleID) + len(p.SessionName) + len(p.Policy) + len(p.SourceIdentity)
	for k, v := range p.SessionTags {
		n += 4 + len(k) + len(v)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodePrincipal parses an encoding made by appendPrincipal. The input was
// authenticated before it gets here, so errors mean a bug or a leaked key;
// it is careful anyway, since it must never panic. Strings in the result
// share memory with s.
func decodePrincipal(s string) (*podidentity.SessionPrincipal, error) {
	d := decoder{s: s}
	p := &podidentity.SessionPrincipal{}
	flags := d.byte()
	if flags&^flagsKnown != 0 {
		return nil, fmt.Errorf("unknown flags %#x", flags)
	}
	if flags&flagAccessKeyPacked != 0 {
		var raw [accessKeyRandBytes]byte
		d.raw(raw[:])
		p.AccessKeyID = formatAccessKey(&raw)
	} else {
		p.AccessKeyID = d.string()
	}
	if flags&flagSecretPacked != 0 {
		var raw [secretRandBytes]byte
		d.raw(raw[:])
		p.SecretAccessKey = formatSecret(&raw)
		clear(raw[:])
	} else {
		p.SecretAccessKey = d.string()
	}
	sec := d.varint()
	nsec := d.uvarint()
	if nsec > maxNanos || sec < minUnix || sec > maxUnix {
		d.fail(errors.New("expiration out of range"))
	}
	p.Expiration = time.Unix(sec, int64(nsec)).UTC()
	p.RoleARN = d.string()
	var role podidentity.RoleARN
	if flags&(flagAccountDerived|flagAssumedARNDerived|flagAssumedIDDerived) != 0 && d.err == nil {
		var err error
		if role, err = podidentity.ParseRoleARN(p.RoleARN); err != nil {
			d.fail(fmt.Errorf("derived fields with an unparsable role ARN: %w", err))
		}
	}
	if flags&flagAccountDerived != 0 {
		p.AccountID = role.Account
	} else {
		p.AccountID = d.string()
	}
	assumedARN := flags&flagAssumedARNDerived == 0
	if assumedARN {
		p.AssumedRoleARN = d.string()
	}
	assumedID := flags&flagAssumedIDDerived == 0
	if assumedID {
		p.AssumedRoleID = d.string()
	}
	p.SessionName = d.string()
	p.SourceIdentity = d.string()
	p.Policy = d.string()
	if d.err == nil && !assumedARN {
		p.AssumedRoleARN = role.AssumedRole(p.SessionName)
	}
	if d.err == nil && !assumedID {
		p.AssumedRoleID = assumedRoleID(p.RoleARN, p.SessionName)
	}
	// Each tag takes at least two bytes, which bounds the count before the
	// map is sized by it.
	n := d.uvarint()
	if n > uint64(d.remaining()/2) {
		d.fail(fmt.Errorf("%d tags in %d bytes", n, d.remaining()))
	}
	if d.err == nil && n > 0 {
		p.SessionTags = make(map[string]string, n)
		for range n {
			var k string
			if idx := d.uvarint(); idx == 0 {
				k = d.string()
			} else if k = wellKnownTag(idx); k == "" {
				d.fail(fmt.Errorf("unknown tag index %d", idx))
			}
			v := d.string()
			if d.err != nil {
				break
			}
			if _, dup := p.SessionTags[k]; dup {
				d.fail(fmt.Errorf("tag %q twice", k))
				break
			}
			p.SessionTags[k] = v
		}
	}
	if d.err == nil && d.remaining() != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", d.remaining()))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder reads from s; after the first error every read returns zero
// values, so callers check d.err once at the end.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) remaining() int { return len(d.s) - d.off }

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.remaining() < 1 {
		d.fail(errors.New("truncated"))
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

// raw fills dst with the next len(dst) bytes.
func (d *decoder) raw(dst []byte) {
	if d.err != nil || d.remaining() < len(dst) {
		d.fail(errors.New("truncated"))
		return
	}
	d.off += copy(dst, d.s[d.off:])
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	// binary.Uvarint takes a []byte; reading the string by hand avoids
	// copying the rest of the record for every number.
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.s) {
			d.fail(errors.New("truncated varint"))
			return 0
		}
		c := d.s[d.off]
		d.off++
		if shift == 63 && c > 1 {
			break
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	d.fail(errors.New("varint overflows 64 bits"))
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(d.remaining()) {
		d.fail(fmt.Errorf("string of %d bytes with %d left", n, d.remaining()))
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
