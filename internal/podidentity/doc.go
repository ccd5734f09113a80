// Package podidentity is the domain of the podidentity server: pod identity
// associations, the clusters they belong to, the credentials minted for them,
// the rules that govern them and the typed errors they fail with.
//
// It imports no transport and no database. HTTP adapters translate wire
// requests into calls on Service; storage adapters implement Store.
package podidentity
