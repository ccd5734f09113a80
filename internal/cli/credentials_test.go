package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/credentials/local"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// The generated sealing key is stored for the local backend, which seals
// session tokens with it, and not for the sts backend, which seals
// nothing; an sts server still opens what a key stored earlier sealed, so
// switching backends does not strand credentials already handed out.
func TestGeneratedSealingKey(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlstore.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	withBackend := func(backend string) *config.File {
		return &config.File{AccountID: "111122223333", Credentials: config.Credentials{Backend: backend}}
	}
	issuer := func(cfg *config.File) *local.Issuer {
		t.Helper()
		ring, err := keyring(ctx, cfg, store, log)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := local.NewIssuer(local.Config{Keyring: ring, AccountID: cfg.AccountID})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	principal := &pi.SessionPrincipal{AccessKeyID: "ASIAEXAMPLE000000001", SecretAccessKey: "s", AccountID: "111122223333",
		RoleARN: "arn:aws:iam::111122223333:role/r", Expiration: time.Now().Add(time.Hour)}

	stsBefore := issuer(withBackend("sts"))
	if _, ok, _ := store.Setting(ctx, local.GeneratedKeySetting); ok {
		t.Fatal("the sts backend stored a sealing key")
	}
	token, err := issuer(withBackend("local")).Seal(principal)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := store.Setting(ctx, local.GeneratedKeySetting); !ok {
		t.Fatal("the local backend did not store its generated key")
	}
	if _, err := issuer(withBackend("local")).Open(token); err != nil {
		t.Errorf("a restarted local server cannot open its own token: %v", err)
	}
	if _, err := issuer(withBackend("sts")).Open(token); err != nil {
		t.Errorf("an sts server cannot open a token the local backend sealed before: %v", err)
	}
	if _, err := stsBefore.Open(token); err == nil {
		t.Error("a token opened under a key it was not sealed with")
	}
}
