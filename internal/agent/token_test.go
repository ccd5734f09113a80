package agent

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	now := t0
	b64 := base64.RawURLEncoding.EncodeToString
	good := podJWT(t, "web-0", now.Add(time.Hour))
	tests := []struct {
		name    string
		raw     string
		wantErr string
	}{
		{"good", good, ""},
		{"empty", "", "cannot be empty"},
		{"bearer prefix is not a token", "Bearer " + good, "cannot be parsed"},
		{"two parts", "a.b", "3 dot-separated parts"},
		{"four parts", good + ".x", "3 dot-separated parts"},
		{"header not base64", "%%%." + strings.SplitN(good, ".", 2)[1], "header: not base64url"},
		{"header not an object", b64([]byte(`"x"`)) + "." + strings.SplitN(good, ".", 2)[1], "header: not a JSON object"},
		{"header without alg", b64([]byte(`{"typ":"JWT"}`)) + "." + strings.SplitN(good, ".", 2)[1], "header has no alg"},
		{"claims not JSON", b64([]byte(`{"alg":"RS256"}`)) + "." + b64([]byte("nope")) + ".c2ln", "claims: not a JSON object"},
		{"claims of the wrong shape", jwt(t, map[string]any{"kubernetes.io": "x"}), "claims: not a JSON object of the expected shape"},
		{"empty signature", strings.TrimSuffix(good, good[strings.LastIndex(good, ".")+1:]), "signature"},
		{"expired", podJWT(t, "web-0", now), "token is expired"},
		{"exp not a number", jwt(t, map[string]any{"exp": "soon"}), "exp is not a NumericDate"},
		{"nbf far ahead", jwt(t, map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}), "not valid yet"},
		{"nbf within the clock-skew leeway", jwt(t, map[string]any{"nbf": now.Add(30 * time.Second).Unix()}), ""},
		{"fractional exp", jwt(t, map[string]any{"exp": float64(now.Unix()) + 0.5}), ""},
		{"no exp at all", jwt(t, map[string]any{"sub": "x"}), ""},
		{"too long", jwt(t, map[string]any{"pad": strings.Repeat("x", maxTokenBytes)}), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseToken(tt.raw, now)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("parseToken: %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("parseToken: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseTokenReadsPodAndExpiry(t *testing.T) {
	exp := t0.Add(24 * time.Hour)
	raw := podJWT(t, "web-0", exp)
	tok := mustToken(t, raw, t0)
	if tok.raw != raw || !tok.expires.Equal(exp) || tok.namespace != "default" || tok.serviceAccount != "app" || tok.podName != "web-0" {
		t.Errorf("parseToken = %+v", tok)
	}
	if other := mustToken(t, podJWT(t, "web-1", exp), t0); other.key == tok.key {
		t.Errorf("two tokens share a cache key")
	}
	if s := tok.key.String(); len(s) != 12 || strings.Contains(raw, s) {
		t.Errorf("key id %q is not a short hash", s)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(podJWT(f, "web-0", t0.Add(time.Hour)))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.c2ln")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw, t0)
		if err != nil {
			if _, ok := err.(*errBadToken); !ok {
				t.Fatalf("error of type %T, want *errBadToken", err)
			}
			return
		}
		if strings.Count(raw, ".") != 2 || tok.raw != raw {
			t.Fatalf("accepted %q, which is not three parts", raw)
		}
		if !tok.expires.IsZero() && !t0.Before(tok.expires) {
			t.Fatalf("accepted an expired token")
		}
	})
}
