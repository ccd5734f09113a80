// Package backup is podidentity's export format: every association,
// resource tag and setting of a store in one JSON document, written and
// read as a stream so that a large store is never held in memory on either
// side. It knows the format only; which store and which file is the
// command line's business.
package backup

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	pi "github.com/podidentity/podidentity/internal/podidentity"
)

// Format and Version name the document; Read refuses any other.
const (
	Format  = "podidentity-export"
	Version = 1
)

// header is the document's identification. Its keys may come anywhere in
// the object.
type header struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	ExportedAt string `json:"exportedAt"`
}

// association is one association as the document spells it: AWS's
// member names, times in UTC.
type association struct {
	ClusterName        string            `json:"clusterName"`
	AssociationID      string            `json:"associationId"`
	Namespace          string            `json:"namespace"`
	ServiceAccount     string            `json:"serviceAccount"`
	RoleARN            string            `json:"roleArn"`
	TargetRoleARN      string            `json:"targetRoleArn,omitempty"`
	ExternalID         string            `json:"externalId,omitempty"`
	DisableSessionTags bool              `json:"disableSessionTags,omitempty"`
	Policy             string            `json:"policy,omitempty"`
	OwnerARN           string            `json:"ownerArn,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	CreatedAt          time.Time         `json:"createdAt"`
	ModifiedAt         time.Time         `json:"modifiedAt"`
}

func fromAssociation(a *pi.Association) association {
	return association{
		ClusterName: a.ClusterName, AssociationID: a.AssociationID, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount,
		RoleARN: a.RoleARN, TargetRoleARN: a.TargetRoleARN, ExternalID: a.ExternalID, DisableSessionTags: a.DisableSessionTags,
		Policy: a.Policy, OwnerARN: a.OwnerARN, Tags: a.Tags, CreatedAt: a.CreatedAt.UTC(), ModifiedAt: a.ModifiedAt.UTC(),
	}
}

// toAssociation checks that the members an association cannot lack are
// there; the store checks the rest as it would any association.
func (e association) toAssociation() (*pi.Association, error) {
	var missing []string
	for name, v := range map[string]string{"clusterName": e.ClusterName, "associationId": e.AssociationID,
		"namespace": e.Namespace, "serviceAccount": e.ServiceAccount, "roleArn": e.RoleARN} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if e.CreatedAt.IsZero() || e.ModifiedAt.IsZero() {
		missing = append(missing, "createdAt/modifiedAt")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("association %q lacks %s", e.AssociationID, strings.Join(missing, ", "))
	}
	return &pi.Association{
		ClusterName: e.ClusterName, AssociationID: e.AssociationID, Namespace: e.Namespace, ServiceAccount: e.ServiceAccount,
		RoleARN: e.RoleARN, TargetRoleARN: e.TargetRoleARN, ExternalID: e.ExternalID, DisableSessionTags: e.DisableSessionTags,
		Policy: e.Policy, OwnerARN: e.OwnerARN, Tags: e.Tags, CreatedAt: e.CreatedAt.UTC(), ModifiedAt: e.ModifiedAt.UTC(),
	}, nil
}

// marshal never fails for the document's types: strings, maps of strings,
// times and booleans.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("backup: marshalling %T: %v", v, err))
	}
	return b
}
