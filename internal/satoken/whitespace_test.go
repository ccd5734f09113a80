package satoken

import (
	"context"
	"testing"

	"github.com/podidentity/podidentity/internal/podidentity"
)

// A token with whitespace around it (a file's newline, a pasted space) is
// refused saying so, not as "not three base64url segments", and without
// echoing the token.
func TestTokenWithWhitespaceSaysSo(t *testing.T) {
	clk := newClock()
	key := newRSASigner(t, "rsa-1")
	v := newValidator(t, clk, Options{CacheSize: -1}, staticCluster(key))
	tok := key.mint(t, validClaims(clk.Now()))
	for _, tc := range []struct{ token, want string }{
		{tok + "\n", "the token ends with a newline; send the token alone"},
		{tok + "\r\n", "the token ends with a newline"},
		{tok + "  ", "the token ends with whitespace"},
		{" " + tok, "the token starts with whitespace"},
		{"\t" + tok + "\n", "the token has whitespace around it"},
		{tok[:20] + " " + tok[20:], "the token contains whitespace"},
		{tok + "!", "the token is not a JWT: it must be three base64url segments"},
	} {
		_, err := v.Validate(context.Background(), testCluster, tc.token)
		checkErr(t, err, tc.token, podidentity.CodeInvalidParameter, tc.want)
	}
	if _, err := v.Validate(context.Background(), testCluster, tok); err != nil {
		t.Fatalf("the token itself: %v", err)
	}
}
