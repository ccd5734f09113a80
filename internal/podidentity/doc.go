// Package podidentity is the domain of the podidentity server: pod identity
// associations, the clusters they belong to, the credentials minted for them,
// the rules that govern them and the typed errors they fail with. It also
// owns the grammar of the AWS names the server reads (ARNs, IAM role ARNs,
// account ids, EKS cluster names): the configuration and the credential
// backends parse them with it, so a name the API accepts is one every
// later step can use.
//
// It imports no transport and no database. HTTP adapters translate wire
// requests into calls on Service; storage adapters implement Store.
package podidentity
