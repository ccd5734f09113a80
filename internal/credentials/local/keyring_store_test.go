package local_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// TestKeyringFromStore: a server that seals stores one generated key and
// every later keyring (a restart, a replica) uses it; a server that seals
// nothing stores nothing, yet opens what a stored key sealed, so switching
// backends does not strand credentials already handed out.
func TestKeyringFromStore(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	issuer := func(seals bool) *local.Issuer {
		t.Helper()
		ring, err := local.KeyringFromStore(ctx, store, seals, nil)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: "111122223333"})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	principal := &podidentity.SessionPrincipal{AccessKeyID: "ASIAEXAMPLE000000001", SecretAccessKey: "s", AccountID: "111122223333",
		RoleARN: "arn:aws:iam::111122223333:role/r", Expiration: time.Now().Add(time.Hour)}

	before := issuer(false)
	if _, ok, _ := store.Setting(ctx, local.GeneratedKeySetting); ok {
		t.Fatal("a keyring that seals nothing stored a key")
	}
	token, err := issuer(true).Seal(principal)
	if err != nil {
		t.Fatal(err)
	}
	stored, ok, _ := store.Setting(ctx, local.GeneratedKeySetting)
	if !ok {
		t.Fatal("a sealing keyring did not store its generated key")
	}
	if _, err := issuer(true).Open(token); err != nil {
		t.Errorf("a restarted sealing server cannot open its own token: %v", err)
	}
	if again, _, _ := store.Setting(ctx, local.GeneratedKeySetting); again != stored {
		t.Error("a second sealing keyring replaced the stored key")
	}
	if _, err := issuer(false).Open(token); err != nil {
		t.Errorf("a server that seals nothing cannot open a token sealed with the stored key: %v", err)
	}
	if _, err := before.Open(token); err == nil {
		t.Error("a token opened under a key it was not sealed with")
	}
}

// TestKeyringFromStoreCorrupt: a stored key that does not parse is an
// error that says so and does not echo the stored value.
func TestKeyringFromStoreCorrupt(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const garbage = "not-base64-secret!"
	if _, err := store.SetSettingIfAbsent(ctx, local.GeneratedKeySetting, garbage); err != nil {
		t.Fatal(err)
	}
	for _, seals := range []bool{true, false} {
		_, err := local.KeyringFromStore(ctx, store, seals, nil)
		if err == nil || !strings.Contains(err.Error(), "stored sealing key is corrupt") {
			t.Errorf("seals=%v: error = %v, want the stored key reported corrupt", seals, err)
		}
		if err != nil && strings.Contains(err.Error(), garbage) {
			t.Errorf("seals=%v: error %q echoes the stored secret", seals, err)
		}
	}
}
