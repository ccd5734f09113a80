// Package local is the credential backend that mints temporary AWS-style
// credentials itself, for clusters with no AWS account behind them (on
// premises, CI, an emulator of EKS Pod Identity) instead of asking STS.
//
// It stores nothing per credential. The session token is the credential's
// record: the principal (keys, role, session name and tags, policy,
// expiration) encrypted and authenticated with AES-256-GCM under a key from
// a Keyring. Any replica holding the keyring can therefore verify any
// credential (see Issuer.Lookup, used by the SigV4 verifier), restarts lose
// nothing, and keys rotate without invalidating live credentials. The cost
// is that a credential cannot be revoked before it expires except by
// dropping the key that sealed it, which revokes all of that key's tokens.
//
// Random 96-bit nonces are safe for about 2^32 tokens per key; rotate keys
// long before that.
package local
