package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SecretLookup resolves an access key id (and the session token sent with
// it, "" if none) to its secret and the caller it belongs to, which Verify
// hands back in Result. C is the caller type of whoever uses the Verifier:
// sigv4 never looks inside it, so it needs no type of ours.
//
// An unknown key is reported either by returning an empty secret with a nil
// error, which Verify turns into UnrecognizedClient with AWS's message, or
// by returning an *Error, which Verify passes through unchanged (for
// example ExpiredSessionToken). Any other error is returned wrapped, with
// the access key for the logs; the caller treats it as the failure it is.
type SecretLookup[C any] func(ctx context.Context, accessKeyID, sessionToken string) (secret string, caller C, err error)

// DefaultMaxSkew is how far a request's signing time may be from the
// server's clock, AWS's own limit.
const DefaultMaxSkew = 15 * time.Minute

// Verifier checks SigV4 signatures of callers of type C. Its fields are
// configuration; set them before the first Verify and do not copy a
// Verifier after that, because it holds a cache of derived signing keys. It
// is safe for concurrent use.
type Verifier[C any] struct {
	Lookup  SecretLookup[C]
	Now     func() time.Time // nil: time.Now
	MaxSkew time.Duration    // 0: DefaultMaxSkew
	Regions []string         // accepted regions in the credential scope; empty: any
	// Hosts are the names this server answers to, with or without a port
	// ("podidentity.example.com", "10.0.0.5:8080"); empty: any. A request
	// signed for another Host was meant for another endpoint: accepting
	// it would let whoever saw it there replay it here.
	Hosts []string

	// InsecureAcceptUnknownKeys, when set, makes a well-formed request
	// signed with an access key Lookup does not know pass without its
	// signature being checked, as the caller it returns. It exists for
	// `server --dev`, where any access key should work, and must never be
	// set on a server that guards real credentials.
	InsecureAcceptUnknownKeys func(accessKeyID string) C

	keys keyCache
}

// Result describes a request whose signature verified.
type Result[C any] struct {
	AccessKeyID  string
	SessionToken string
	Region       string
	Service      string
	SignedAt     time.Time
	Caller       C // as returned by Lookup
}

// request is what Verify has learned from an incoming request before it
// knows the secret.
type request struct {
	r            *http.Request
	auth         authorization
	amzDate      string // the timestamp of the string to sign
	at           time.Time
	presigned    bool
	expires      time.Duration // X-Amz-Expires of a presigned URL; 0 if absent
	sessionToken string
	path         string // raw, as sent
	query        queryParams
}

// Verify checks r's signature for the given service ("eks", "eks-auth",
// "sts"). payload is the complete request body, already read by the caller;
// nil means empty. A request refused is an *Error with a client-safe
// message; any other error is a failure of the server, not of the request.
//
// The path and query are taken from r.RequestURI, the bytes the client sent,
// so middleware that rewrites r.URL does not break verification. Lookup runs
// before the signature is checked (the secret is needed to check it), so it
// sees unauthenticated input and should be cheap and quiet.
func (v *Verifier[C]) Verify(ctx context.Context, r *http.Request, payload []byte, service string) (*Result[C], error) {
	if v.Lookup == nil {
		return nil, errors.New("sigv4: Verifier.Lookup is nil")
	}
	req, err := parseRequest(r)
	if err != nil {
		return nil, err
	}
	cred := req.auth.cred
	if cred.date != req.amzDate[:8] {
		return nil, errMismatchf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			quote(cred.date), req.amzDate[:8], req.amzDate)
	}
	if cred.service != service {
		return nil, errMismatchf("Credential should be scoped to correct service: '%s'.", service)
	}
	if len(v.Regions) > 0 && !slices.Contains(v.Regions, cred.region) {
		return nil, errWrongRegion(cred.region, v.Regions)
	}
	if err := v.checkTime(&req); err != nil {
		return nil, err
	}
	if len(v.Hosts) > 0 && !hostAllowed(v.Hosts, r.Host) {
		return nil, errMismatchf("The request was signed for host '%s', which is not a name of this endpoint.", quote(r.Host))
	}

	secret, caller, err := v.Lookup(ctx, cred.accessKeyID, req.sessionToken)
	if err != nil {
		if _, ok := errors.AsType[*Error](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("sigv4: looking up access key %s: %w", quote(cred.accessKeyID), err)
	}
	if secret == "" {
		if v.InsecureAcceptUnknownKeys != nil && req.sessionToken == "" {
			// Development servers only: the request was parsed, scoped and
			// timed like any other, but its signature cannot be checked.
			return &Result[C]{
				AccessKeyID: cred.accessKeyID,
				Region:      cred.region,
				Service:     cred.service,
				SignedAt:    req.at,
				Caller:      v.InsecureAcceptUnknownKeys(cred.accessKeyID),
			}, nil
		}
		return nil, errUnrecognizedClient()
	}

	hashes, n, err := payloadHashes(r.Header, payload, req.presigned)
	if err != nil {
		return nil, err
	}
	key := v.keys.signingKey(cred, secret)
	if !req.verify(&key, hashes[:n]) {
		return nil, errMismatch(req.debug(hashes[0]))
	}
	return &Result[C]{
		AccessKeyID:  cred.accessKeyID,
		SessionToken: req.sessionToken,
		Region:       cred.region,
		Service:      cred.service,
		SignedAt:     req.at,
		Caller:       caller,
	}, nil
}

// parseRequest finds the signature in the Authorization header or the
// presigned query parameters (never both) and everything that goes with it.
func parseRequest(r *http.Request) (request, error) {
	req := request{r: r}
	var rawQuery string
	req.path, rawQuery = requestTarget(r)

	authz := r.Header["Authorization"]
	if len(authz) == 1 && strings.TrimSpace(authz[0]) == "" {
		authz = nil
	}
	q, qerr := parseQuery(rawQuery)
	if qerr != nil {
		if len(authz) == 0 && !strings.Contains(rawQuery, "X-Amz-") {
			return request{}, errMissingAuth()
		}
		return request{}, errIncomplete("The query string is not properly percent-encoded.")
	}
	req.query = q
	_, nAlg := q.get(queryAlgorithm)
	_, nCred := q.get(queryCredential)
	_, nSig := q.get(querySignature)
	req.presigned = nAlg+nCred+nSig > 0

	switch {
	case len(authz) > 0 && req.presigned:
		return request{}, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.")
	case len(authz) > 1:
		return request{}, errIncomplete("Only one Authorization header is allowed.")
	case len(authz) == 1:
		auth, err := parseAuthorization(authz[0])
		if err != nil {
			return request{}, err
		}
		req.auth = auth
		if req.amzDate, req.at, err = headerDate(r.Header); err != nil {
			return request{}, err
		}
		if req.sessionToken, err = sessionToken(r.Header, q, false); err != nil {
			return request{}, err
		}
	case req.presigned:
		auth, amzDate, expires, err := parsePresigned(q)
		if err != nil {
			return request{}, err
		}
		req.auth, req.amzDate, req.expires = auth, amzDate, expires
		if req.at, err = parseAmzDate(amzDate); err != nil {
			return request{}, err
		}
		if req.sessionToken, err = sessionToken(r.Header, q, true); err != nil {
			return request{}, err
		}
	default:
		return request{}, errMissingAuth()
	}
	return req, nil
}

// sessionToken finds X-Amz-Security-Token: in the header for header-signed
// requests and in the query for presigned URLs, each falling back to the
// other place.
func sessionToken(h http.Header, q queryParams, presigned bool) (string, error) {
	hv := h["X-Amz-Security-Token"]
	qv, nq := q.get(querySecurityToken)
	if len(hv) > 1 || nq > 1 {
		return "", errIncomplete("Only one X-Amz-Security-Token is allowed.")
	}
	switch {
	case presigned && nq == 1:
		return qv, nil
	case len(hv) == 1:
		return hv[0], nil
	case nq == 1:
		return qv, nil
	}
	return "", nil
}

func (v *Verifier[C]) checkTime(req *request) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now().UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if req.at.After(t.Add(skew)) {
		return errTooNew(req.at, t, skew)
	}
	if req.expires > 0 {
		// No grace beyond X-Amz-Expires: the signer chose the lifetime.
		if t.After(req.at.Add(req.expires)) {
			return errPresignExpired(req.at, req.expires, t)
		}
		return nil
	}
	if req.at.Before(t.Add(-skew)) {
		return errTooOld(req.at, t, skew)
	}
	return nil
}

// payloadHashes returns the payload hashes the client may have signed.
// A hash in x-amz-content-sha256 is what botocore and the Go SDK sign when
// they send one, so it must also match the body. Without it, header
// signatures cover the body's hash, while presigned URLs carry either the
// hash of the (empty) body (Go SDK) or UNSIGNED-PAYLOAD (botocore).
//
// UNSIGNED-PAYLOAD, in the header or in a presigned URL, is accepted only
// when there is no body: AWS's JSON and query APIs always sign the body
// (only S3 takes an unsigned one), and a body the signature does not cover
// could be anything. A presigned URL handed to someone else must not let
// them POST parameters of their own choosing under its signature.
func payloadHashes(h http.Header, payload []byte, presigned bool) (hashes [2]string, n int, err error) {
	if vs := h["X-Amz-Content-Sha256"]; len(vs) > 0 {
		if len(vs) > 1 {
			return hashes, 0, errIncomplete("Only one x-amz-content-sha256 header is allowed.")
		}
		if vs[0] == unsignedPayload && len(payload) > 0 {
			return hashes, 0, errMismatchf("x-amz-content-sha256 UNSIGNED-PAYLOAD is accepted only for requests without a body; sign the SHA-256 of the body.")
		}
		if vs[0] != unsignedPayload {
			claimed, ok := decodeSignature(vs[0])
			if !ok {
				return hashes, 0, errIncomplete("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid SHA-256 value.")
			}
			if claimed != sha256.Sum256(payload) {
				return hashes, 0, errMismatchf("The provided 'x-amz-content-sha256' header does not match what was computed.")
			}
		}
		hashes[0] = vs[0]
		return hashes, 1, nil
	}
	sum := sha256.Sum256(payload)
	hashes[0] = hex.EncodeToString(sum[:])
	if presigned && len(payload) == 0 {
		hashes[1] = unsignedPayload
		return hashes, 2, nil
	}
	return hashes, 1, nil
}

// verify reports whether the client's signature matches the canonical
// request under any of its readings: each payload hash, and the path as
// sent or normalised. Ambiguity exists only on rare paths and presigned
// URLs; the common request computes one signature.
func (req *request) verify(key *[32]byte, hashes []string) bool {
	want, ok := decodeSignature(req.auth.signature)
	if !ok {
		return false
	}
	paths := [2]string{req.path}
	n := 1
	if p := normalizePath(req.path); p != req.path {
		paths[1], n = p, 2
	}
	var stack [1024]byte
	buf := stack[:0]
	for _, path := range paths[:n] {
		for _, hash := range hashes {
			buf = req.appendCanonicalRequest(buf[:0], path, hash, false)
			got := req.signature(key, buf)
			if hmac.Equal(got[:], want[:]) {
				return true
			}
		}
	}
	return false
}

// appendCanonicalRequest appends the canonical request for one reading of
// the path and the payload.
func (req *request) appendCanonicalRequest(b []byte, path, payloadHash string, redact bool) []byte {
	b = append(b, req.r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, path)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, req.query, req.presigned, redact)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, req.r, req.auth.signedHeaders, redact)
	b = append(b, '\n')
	b = append(b, req.auth.signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

// appendStringToSign appends the string to sign for a canonical request.
func (req *request) appendStringToSign(b, canonical []byte) []byte {
	sum := sha256.Sum256(canonical)
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, req.amzDate...)
	b = append(b, '\n')
	b = append(b, req.auth.cred.scope...)
	b = append(b, '\n')
	return hex.AppendEncode(b, sum[:])
}

// signature computes HMAC-SHA256(key, string to sign). It is RFC 2104
// written out for a 32-byte key, because crypto/hmac allocates several
// objects per call and this runs for every request; the string to sign is
// built right after the inner pad so one SHA-256 call covers both.
// TestSignatureMatchesCryptoHMAC holds it to crypto/hmac.
func (req *request) signature(key *[32]byte, canonical []byte) [32]byte {
	const blockSize = sha256.BlockSize
	var stack [blockSize + 256]byte
	var pad [blockSize]byte
	copy(pad[:], key[:])
	for i := range pad {
		stack[i] = pad[i] ^ 0x36
	}
	inner := sha256.Sum256(req.appendStringToSign(stack[:blockSize], canonical))
	var outer [blockSize + sha256.Size]byte
	for i := range pad {
		outer[i] = pad[i] ^ 0x5c
	}
	copy(outer[blockSize:], inner[:])
	return sha256.Sum256(outer[:])
}

// debug describes a failed verification for the logs: the canonical request
// and string to sign we computed, with the session token redacted, which
// is what one compares with a client's debug output. It holds neither the
// secret nor the signature we expected.
func (req *request) debug(payloadHash string) error {
	canonical := req.appendCanonicalRequest(nil, req.path, payloadHash, false)
	sts := req.appendStringToSign(nil, canonical)
	shown := req.appendCanonicalRequest(nil, req.path, payloadHash, true)
	return fmt.Errorf("sigv4: no match for access key %s; canonical request %q; string to sign %q",
		quote(req.auth.cred.accessKeyID), shown, sts)
}
