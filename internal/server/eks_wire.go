package server

import (
	"maps"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Wire shapes of the EKS API (eks.service-2.json), member names exactly as
// the model spells them.

type podIdentityAssociation struct {
	ClusterName        string                `json:"clusterName"`
	Namespace          string                `json:"namespace"`
	ServiceAccount     string                `json:"serviceAccount"`
	RoleARN            string                `json:"roleArn"`
	AssociationARN     string                `json:"associationArn"`
	AssociationID      string                `json:"associationId"`
	Tags               map[string]string     `json:"tags"`
	CreatedAt          awsproto.EpochSeconds `json:"createdAt"`
	ModifiedAt         awsproto.EpochSeconds `json:"modifiedAt"`
	OwnerARN           string                `json:"ownerArn,omitempty"`
	DisableSessionTags bool                  `json:"disableSessionTags"`
	TargetRoleARN      string                `json:"targetRoleArn,omitempty"`
	ExternalID         string                `json:"externalId,omitempty"`
	Policy             string                `json:"policy,omitempty"`
}

func wireAssociation(a *pi.Association) *podIdentityAssociation {
	tags := maps.Clone(a.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	return &podIdentityAssociation{
		ClusterName:        a.ClusterName,
		Namespace:          a.Namespace,
		ServiceAccount:     a.ServiceAccount,
		RoleARN:            a.RoleARN,
		AssociationARN:     a.AssociationARN,
		AssociationID:      a.AssociationID,
		Tags:               tags,
		CreatedAt:          awsproto.EpochSeconds(a.CreatedAt),
		ModifiedAt:         awsproto.EpochSeconds(a.ModifiedAt),
		OwnerARN:           a.OwnerARN,
		DisableSessionTags: a.DisableSessionTags,
		TargetRoleARN:      a.TargetRoleARN,
		ExternalID:         a.ExternalID,
		Policy:             a.Policy,
	}
}

// resolveAssociationResponse is our ResolvePodIdentityAssociation's answer:
// the summary ListPodIdentityAssociations would give for the association.
type resolveAssociationResponse struct {
	Association podIdentityAssociationSummary `json:"association"`
}

type podIdentityAssociationSummary struct {
	ClusterName    string `json:"clusterName"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	AssociationARN string `json:"associationArn"`
	AssociationID  string `json:"associationId"`
	OwnerARN       string `json:"ownerArn,omitempty"`
}

type associationResponse struct {
	Association *podIdentityAssociation `json:"association"`
}

type createAssociationRequest struct {
	Namespace          *string           `json:"namespace"`
	ServiceAccount     *string           `json:"serviceAccount"`
	RoleARN            *string           `json:"roleArn"`
	ClientRequestToken string            `json:"clientRequestToken"`
	Tags               map[string]string `json:"tags"`
	DisableSessionTags *bool             `json:"disableSessionTags"`
	TargetRoleARN      string            `json:"targetRoleArn"`
	Policy             string            `json:"policy"`
}

type updateAssociationRequest struct {
	RoleARN            *string `json:"roleArn"`
	ClientRequestToken string  `json:"clientRequestToken"`
	DisableSessionTags *bool   `json:"disableSessionTags"`
	TargetRoleARN      *string `json:"targetRoleArn"`
	Policy             *string `json:"policy"`
}

type listAssociationsResponse struct {
	Associations []podIdentityAssociationSummary `json:"associations"`
	NextToken    string                          `json:"nextToken,omitempty"`
}

type listClustersResponse struct {
	Clusters  []string `json:"clusters"`
	NextToken string   `json:"nextToken,omitempty"`
}

type describeClusterResponse struct {
	Cluster wireCluster `json:"cluster"`
}

type wireCluster struct {
	Name      string                `json:"name"`
	ARN       string                `json:"arn"`
	CreatedAt awsproto.EpochSeconds `json:"createdAt"`
	Endpoint  string                `json:"endpoint,omitempty"`
	Identity  clusterIdentity       `json:"identity"`
	Status    string                `json:"status"`
	Tags      map[string]string     `json:"tags"`
}

type clusterIdentity struct {
	OIDC clusterOIDC `json:"oidc"`
}

type clusterOIDC struct {
	Issuer string `json:"issuer"`
}

type tagResourceRequest struct {
	Tags map[string]string `json:"tags"`
}

type listTagsResponse struct {
	Tags map[string]string `json:"tags"`
}
