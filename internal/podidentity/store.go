package podidentity

import (
	"context"
	"time"
)

// Store persists associations, resource tags and server settings. It is
// declared here, by its consumer; adapters in internal/store implement it.
//
// Stores return *Error values with CodeNotFound, CodeInUse,
// CodeLimitExceeded or CodeIdempotencyMismatch where those apply, and
// CodeUnavailable when the database cannot be reached.
type Store interface {
	// Associations come back without AssociationARN: ARNs derive from the
	// server's region and account, which the Service owns.
	//
	// CreateAssociation inserts a. When idem is non-nil and a create with
	// the same scope and token was already recorded, it returns that
	// association if the request hashes match, and a CodeIdempotencyMismatch
	// error if they differ. It fails with CodeInUse when the cluster already
	// has an association for a's key, or, when a is a pattern association,
	// one that is Ambiguous with a (the message names it); and with
	// CodeLimitExceeded when the cluster already holds limit associations,
	// patterns counted like any other.
	CreateAssociation(ctx context.Context, a *Association, limit int, idem *Idempotency) (*Association, error)

	// GetAssociation returns one association by cluster and id.
	GetAssociation(ctx context.Context, cluster, id string) (*Association, error)

	// FindAssociation returns the association whose namespace and service
	// account are exactly key's, without its tags. Patterns are not
	// matched: a pattern is found only by its own text.
	FindAssociation(ctx context.Context, cluster string, key AssociationKey) (*Association, error)

	// PatternAssociations returns the cluster's pattern associations
	// (IsPattern), without their tags, in any order.
	PatternAssociations(ctx context.Context, cluster string) ([]Association, error)

	// ListAssociations returns up to limit associations of cluster, ordered
	// by key, strictly after the key after (nil: from the start), matching
	// the non-empty filters.
	ListAssociations(ctx context.Context, q AssociationQuery) ([]Association, error)

	// UpdateAssociation applies change to the stored association inside one
	// transaction and stores the result. With idem set, a repeated token
	// returns the current association unchanged when the hashes match.
	UpdateAssociation(ctx context.Context, cluster, id string, idem *Idempotency, change func(*Association) error) (*Association, error)

	// DeleteAssociation removes an association with its tags and returns it
	// as it was.
	DeleteAssociation(ctx context.Context, cluster, id string) (*Association, error)

	// Tags returns the tags of a resource (empty map when none). Resources
	// are named by key, not ARN: an association's key is its id (its tags
	// are stored and deleted with it), a cluster's is "cluster/NAME".
	Tags(ctx context.Context, resource string) (map[string]string, error)
	// TagResource merges tags into the resource's tags. It fails with
	// CodeInvalidParameter when the result would exceed maxTags.
	TagResource(ctx context.Context, resource string, tags map[string]string, maxTags int) error
	// UntagResource removes the keys; absent keys are ignored.
	UntagResource(ctx context.Context, resource string, keys []string) error

	// Setting returns a server setting; ok is false when it is unset.
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	// SetSettingIfAbsent stores value unless key is set, and returns the
	// value that is stored after the call. Replicas racing to initialise
	// a setting all end up with the same value.
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)

	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// AssociationQuery selects a page of a cluster's associations.
type AssociationQuery struct {
	Cluster        string
	Namespace      string // "" = any
	ServiceAccount string // "" = any
	After          *AssociationKey
	Limit          int
}

// Client request tokens are remembered for IdempotencyWindow and, per
// association, only the newest IdempotencyPerAssociation of them: a retry
// comes within minutes, and a table that kept every token would grow with
// every write for as long as the server runs. Stores do not replay a token
// older than the window, and drop such tokens as they write new ones.
const (
	IdempotencyWindow         = 24 * time.Hour
	IdempotencyPerAssociation = 100
)

// Idempotency identifies a client request token within a scope (the
// operation and the resource it targets) and fingerprints the parameters it
// was first used with. CreatedAt is the time of the request, and the clock
// the window is measured with.
type Idempotency struct {
	Scope       string
	Token       string
	RequestHash string
	CreatedAt   time.Time
}
