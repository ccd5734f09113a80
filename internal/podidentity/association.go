package podidentity

import "time"

// Association binds a Kubernetes service account in a cluster to an IAM
// role, as an EKS pod identity association does.
type Association struct {
	ClusterName        string
	AssociationID      string
	AssociationARN     string
	Namespace          string
	ServiceAccount     string
	RoleARN            string
	TargetRoleARN      string // empty: no role chaining
	ExternalID         string // set by us whenever TargetRoleARN is set
	DisableSessionTags bool
	Policy             string // inline session policy; only with DisableSessionTags
	OwnerARN           string
	Tags               map[string]string
	CreatedAt          time.Time
	ModifiedAt         time.Time
}

// AssociationKey is the (namespace, service account) pair an association is
// unique for within its cluster. Listing pages are ordered by it.
type AssociationKey struct {
	Namespace      string
	ServiceAccount string
}

// Key returns the association's uniqueness key within its cluster.
func (a *Association) Key() AssociationKey {
	return AssociationKey{Namespace: a.Namespace, ServiceAccount: a.ServiceAccount}
}

// CreateAssociationInput is what a caller may set when creating an
// association.
type CreateAssociationInput struct {
	ClusterName        string
	Namespace          string
	ServiceAccount     string
	RoleARN            string
	TargetRoleARN      string
	DisableSessionTags *bool
	Policy             string
	Tags               map[string]string
	ClientRequestToken string
	// CheckSessionShape, when set, authorizes reserved tags in Tags
	// (ShapeCheck); it is not called when there are none.
	CheckSessionShape ShapeCheck `json:"-"`
}

// UpdateAssociationInput is what a caller may change on an association. Nil
// means "leave as is"; a pointer to "" clears an optional string.
type UpdateAssociationInput struct {
	ClusterName        string
	AssociationID      string
	RoleARN            *string
	TargetRoleARN      *string
	DisableSessionTags *bool
	Policy             *string
	ClientRequestToken string
	// Check, when set, sees the association as stored and as the update
	// leaves it, inside the store's transaction; an error refuses the
	// update. It is for rules on the change itself that the caller alone
	// can decide (iam:PassRole when the target role is cleared), checked
	// against the very row written rather than an earlier read.
	Check func(before, after *Association) error `json:"-"`
}

// ListAssociationsInput filters and pages a cluster's associations.
type ListAssociationsInput struct {
	ClusterName    string
	Namespace      string
	ServiceAccount string
	MaxResults     int    // 0: the default page size
	NextToken      string // opaque, from a previous page
}

// ListAssociationsOutput is one page of associations.
type ListAssociationsOutput struct {
	Associations []Association
	NextToken    string
}
