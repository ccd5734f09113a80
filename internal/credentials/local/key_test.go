package local_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podidentity/podidentity/internal/credentials/local"
)

// secretB64 is recognisable base64 of 32 bytes, so tests can look for any
// piece of it in error messages.
var secretBytes = []byte("0123456789abcdefghijklmnopqrstuv")

func TestParseKey(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(secretBytes)
	tests := []struct {
		name, id, b64 string
		wantErr       string
	}{
		{name: "std", id: "k1", b64: std},
		{name: "raw std", id: "k1", b64: strings.TrimRight(std, "=")},
		{name: "url", id: "k1", b64: base64.URLEncoding.EncodeToString(secretBytes)},
		{name: "raw url", id: "2025-06_a.b", b64: base64.RawURLEncoding.EncodeToString(secretBytes)},
		{name: "short", id: "k1", b64: base64.StdEncoding.EncodeToString(secretBytes[:16]), wantErr: "secret is 16 bytes, want 32"},
		{name: "long", id: "k1", b64: base64.StdEncoding.EncodeToString(append(secretBytes, 'x')), wantErr: "secret is 33 bytes"},
		{name: "not base64", id: "k1", b64: "!!" + std, wantErr: "not base64"},
		{name: "empty", id: "k1", b64: "", wantErr: "secret is 0 bytes"},
		{name: "empty id", id: "", b64: std, wantErr: "key id must have"},
		{name: "bad id", id: "k 1", b64: std, wantErr: "only letters"},
		{name: "long id", id: strings.Repeat("k", 65), b64: std, wantErr: "key id must have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := local.ParseKey(tt.id, tt.b64)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKey error = %v, want one containing %q", err, tt.wantErr)
				}
				noSecretIn(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(local.Key{ID: tt.id, Secret: secretBytes}, k); diff != "" {
				t.Errorf("ParseKey (-want +got):\n%s", diff)
			}
		})
	}
}

// noSecretIn fails if s contains any 8-character piece of the test secret,
// raw or in base64.
func noSecretIn(t *testing.T, s string) {
	t.Helper()
	for _, enc := range []string{string(secretBytes), base64.StdEncoding.EncodeToString(secretBytes)} {
		for i := 0; i+8 <= len(enc); i++ {
			if strings.Contains(s, enc[i:i+8]) {
				t.Fatalf("%q contains key material %q", s, enc[i:i+8])
			}
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	std := base64.StdEncoding.EncodeToString(secretBytes)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{name: "plain", path: write("plain", std)},
		{name: "trailing newline", path: write("nl", std+"\n")},
		{name: "trailing whitespace", path: write("ws", std+" \t\r\n\n")},
		{name: "leading whitespace", path: write("lead", " "+std), wantErr: "not base64"},
		{name: "16 bytes", path: write("short", base64.StdEncoding.EncodeToString(secretBytes[:16])+"\n"), wantErr: "secret is 16 bytes"},
		{name: "raw bytes", path: write("raw", string(secretBytes)), wantErr: "secret is 24 bytes"},
		{name: "empty", path: write("empty", ""), wantErr: "secret is 0 bytes"},
		{name: "huge", path: write("huge", strings.Repeat(std, 100)), wantErr: "larger than"},
		{name: "missing", path: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "directory", path: dir, wantErr: "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := local.LoadKeyFile("k1", tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadKeyFile error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), `"k1"`) {
					t.Errorf("LoadKeyFile error = %v, want it to name the key", err)
				}
				noSecretIn(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.Secret, secretBytes) || k.ID != "k1" {
				t.Errorf("LoadKeyFile = %v with a different secret", k)
			}
		})
	}
}

func TestKeyNeverPrintsSecret(t *testing.T) {
	k := local.Key{ID: "k1", Secret: secretBytes}
	outs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v", &k), fmt.Sprintf("%v", []local.Key{k}), fmt.Sprintf("%+v", struct{ K local.Key }{k}),
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	outs = append(outs, buf.String())
	for _, out := range outs {
		noSecretIn(t, out)
		for _, b := range []string{"48 49 50", "[48"} { // %d of the bytes
			if strings.Contains(out, b) {
				t.Errorf("%q prints the secret's bytes", out)
			}
		}
		if !strings.Contains(out, "k1") {
			t.Errorf("%q does not name the key", out)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	k, err := local.GenerateKey("gen", nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := local.ParseKey("gen", k.SecretBase64())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Secret, k.Secret) {
		t.Error("ParseKey(SecretBase64()) does not give the same secret")
	}
	if _, err := local.GenerateKey("gen", bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("GenerateKey with 31 bytes of randomness: no error")
	}
	if _, err := local.GenerateKey("", nil); err == nil {
		t.Error("GenerateKey with an empty id: no error")
	}
}

func TestNewKeyring(t *testing.T) {
	good := testKey("a", 1)
	tests := []struct {
		name    string
		keys    []local.Key
		wantErr []string
	}{
		{name: "none", wantErr: []string{"no keys"}},
		{name: "one", keys: []local.Key{good}},
		{name: "several", keys: []local.Key{good, testKey("b", 2), testKey("c", 3)}},
		{name: "short secret", keys: []local.Key{{ID: "a", Secret: []byte("short")}}, wantErr: []string{`"a": secret is 5 bytes`}},
		{name: "duplicate", keys: []local.Key{good, testKey("a", 2)}, wantErr: []string{`"a" appears twice`}},
		{
			name:    "all problems at once",
			keys:    []local.Key{{ID: "", Secret: secretBytes}, {ID: "x"}, good, good},
			wantErr: []string{"key 0: key id", `"x": secret is 0 bytes`, `"a" appears twice`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := local.NewKeyring(tt.keys...)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, k := range tt.keys {
					ids = append(ids, k.ID)
				}
				if diff := cmp.Diff(ids, kr.KeyIDs()); diff != "" {
					t.Errorf("KeyIDs (-want +got):\n%s", diff)
				}
				if kr.SealingKeyID() != tt.keys[0].ID {
					t.Errorf("SealingKeyID = %q, want %q", kr.SealingKeyID(), tt.keys[0].ID)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewKeyring: no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewKeyring error = %v, want it to contain %q", err, w)
				}
			}
			noSecretIn(t, err.Error())
		})
	}
}
