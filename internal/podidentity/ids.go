package podidentity

import (
	"crypto/rand"
	"fmt"
	"io"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newAssociationID returns "a-" followed by 17 random lowercase
// alphanumerics, the form EKS uses.
func newAssociationID(r io.Reader) (string, error) {
	s, err := randomString(r, idAlphabet, 17)
	if err != nil {
		return "", err
	}
	return "a-" + s, nil
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters), rejecting bytes that would bias the draw.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("reading randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
