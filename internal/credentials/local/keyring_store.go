package local

import (
	"context"
	"fmt"
	"log/slog"
)

// GeneratedKeySetting is where the store keeps the sealing key generated
// when the configuration names none, so restarts and replicas share it.
const GeneratedKeySetting = "local-credentials/sealing-key"

// generatedKeyID names the generated key in sealed tokens.
const generatedKeyID = "generated-1"

// Settings is the part of the server's store the generated key lives in.
type Settings interface {
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

// KeyringFromStore is the keyring of a server that is configured with no
// sealing key: the key generated once and kept in store.
//
// A server that seals session tokens (the local backend) stores a freshly
// generated key unless one is stored already, and uses whichever the store
// keeps, so every replica and restart seals and opens with the same key.
// One that seals nothing (the sts backend) stores nothing: a key stored
// while the server used the local backend still opens what it sealed until
// that expires; without one, a key that lives as long as the process will
// do. log (nil: none) is told when the stored key is used for sealing.
func KeyringFromStore(ctx context.Context, store Settings, seals bool, log *slog.Logger) (*Keyring, error) {
	fresh, err := GenerateKey(generatedKeyID, nil)
	if err != nil {
		return nil, err
	}
	var stored string
	if seals {
		if stored, err = store.SetSettingIfAbsent(ctx, GeneratedKeySetting, fresh.SecretBase64()); err != nil {
			return nil, fmt.Errorf("storing the generated sealing key: %w", err)
		}
	} else {
		var ok bool
		if stored, ok, err = store.Setting(ctx, GeneratedKeySetting); err != nil {
			return nil, fmt.Errorf("reading the stored sealing key: %w", err)
		}
		if !ok {
			return NewKeyring(fresh)
		}
	}
	key, err := ParseKey(generatedKeyID, stored)
	if err != nil {
		return nil, fmt.Errorf("the stored sealing key is corrupt: %w", err)
	}
	if seals && log != nil {
		log.Info("sealing session tokens with the key kept in the store; configure credentials.sealingKeys to manage keys yourself")
	}
	return NewKeyring(key)
}
