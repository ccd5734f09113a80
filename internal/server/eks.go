package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/podidentity/podidentity/internal/awsproto"
	pi "github.com/podidentity/podidentity/internal/podidentity"
)

func (s *Server) eksRoutes() {
	const assoc = "/clusters/{clusterName}/pod-identity-associations"
	s.mux.Handle("POST "+assoc, s.operation(s.eksOp("CreatePodIdentityAssociation", s.clusterScope), s.createAssociation))
	s.mux.Handle("GET "+assoc, s.operation(s.eksOp("ListPodIdentityAssociations", s.clusterScope), s.listAssociations))
	s.mux.Handle("GET "+assoc+"/{associationId}", s.operation(s.eksOp("DescribePodIdentityAssociation", s.associationScope), s.describeAssociation))
	s.mux.Handle("POST "+assoc+"/{associationId}", s.operation(s.eksOp("UpdatePodIdentityAssociation", s.associationScope), s.updateAssociation))
	s.mux.Handle("DELETE "+assoc+"/{associationId}", s.operation(s.eksOp("DeletePodIdentityAssociation", s.associationScope), s.deleteAssociation))
	// Ours, not AWS's (docs/patterns.md): which association applies to a
	// service account, patterns included. It reveals what a listing
	// reveals, so it is authorized as eks:ListPodIdentityAssociations.
	resolve := s.eksOp("ResolvePodIdentityAssociation", s.clusterScope)
	resolve.action = "eks:ListPodIdentityAssociations"
	s.mux.Handle("GET /clusters/{clusterName}/resolve-pod-identity-association", s.operation(resolve, s.resolveAssociation))
	s.mux.Handle("GET /clusters", s.operation(s.eksOp("ListClusters", accountScope), s.listClusters))
	s.mux.Handle("GET /clusters/{clusterName}", s.operation(s.eksOp("DescribeCluster", s.clusterScope), s.describeCluster))
	// ARNs contain '/': the SDKs escape it, but accept it raw too.
	tags := func(name string) op {
		o := s.eksOp(name, tagScope)
		o.dialect = awsproto.EKSTags
		return o
	}
	s.mux.Handle("POST /tags/{resourceArn...}", s.operation(tags("TagResource"), s.tagResource))
	s.mux.Handle("DELETE /tags/{resourceArn...}", s.operation(tags("UntagResource"), s.untagResource))
	s.mux.Handle("GET /tags/{resourceArn...}", s.operation(tags("ListTagsForResource"), s.listTags))
}

func (s *Server) eksOp(name string, scope func(*http.Request) (string, string)) op {
	return op{name: name, dialect: awsproto.EKS, service: "eks", action: "eks:" + name, scope: scope}
}

// The resources IAM evaluates each operation against.

func (s *Server) clusterScope(r *http.Request) (string, string) {
	name := clusterName(r)
	return name, s.svc.ClusterARN(name)
}

func (s *Server) associationScope(r *http.Request) (string, string) {
	name := clusterName(r)
	return name, s.svc.AssociationARN(name, r.PathValue("associationId"))
}

func accountScope(*http.Request) (string, string) { return "", "*" }

// tagScope finds the cluster in a cluster or association ARN. An ARN that
// names no cluster is authorized as account-wide; the operation then
// refuses it as malformed.
func tagScope(r *http.Request) (string, string) {
	arn := r.PathValue("resourceArn")
	_, rest, ok := strings.Cut(arn, ":cluster/")
	if !ok {
		_, rest, ok = strings.Cut(arn, ":podidentityassociation/")
	}
	if !ok {
		return "", arn
	}
	cluster, _, _ := strings.Cut(rest, "/")
	return cluster, arn
}

func (s *Server) createAssociation(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req createAssociationRequest
	if err := awsproto.DecodeJSON(body, &req); err != nil {
		return err
	}
	switch {
	case req.Namespace == nil:
		return errMissing("namespace")
	case req.ServiceAccount == nil:
		return errMissing("serviceAccount")
	case req.RoleARN == nil:
		return errMissing("roleArn")
	}
	if err := s.authorizePassRoles(r, req.RoleARN, &req.TargetRoleARN); err != nil {
		return err
	}
	a, err := s.svc.CreateAssociation(r.Context(), pi.CreateAssociationInput{
		ClusterName:        clusterName(r),
		Namespace:          *req.Namespace,
		ServiceAccount:     *req.ServiceAccount,
		RoleARN:            *req.RoleARN,
		TargetRoleARN:      req.TargetRoleARN,
		DisableSessionTags: req.DisableSessionTags,
		Policy:             req.Policy,
		Tags:               req.Tags,
		ClientRequestToken: req.ClientRequestToken,
		CheckSessionShape:  s.authorizeSessionShape(r),
	})
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, associationResponse{Association: wireAssociation(a)})
	return nil
}

// authorizePassRoles checks iam:PassRole for each role a create or update
// names, before anything is written. nil and "" name no role (an update
// clearing targetRoleArn is checked inside the update, which knows whether
// there was a target).
func (s *Server) authorizePassRoles(r *http.Request, roles ...*string) error {
	who := callerFrom(r.Context())
	for _, role := range roles {
		if role == nil || *role == "" {
			continue
		}
		if err := s.authz.AuthorizePassRole(who, *role); err != nil {
			return err
		}
	}
	return nil
}

// authorizeSessionShape guards reserved association tags (docs/sessions.md):
// they change what the role's sessions may do (a session tag overrides the
// role's tag of the same key in IAM policies; a fixed session name can pose
// as another cluster's eks-<cluster>-... name), so setting or removing one
// needs what changing the association does, eks:UpdatePodIdentityAssociation
// on it and iam:PassRole on its roles, not only eks:TagResource.
func (s *Server) authorizeSessionShape(r *http.Request) pi.ShapeCheck {
	who := callerFrom(r.Context())
	return func(a *pi.Association) error {
		if err := s.authz.Authorize(who, "eks:UpdatePodIdentityAssociation", a.ClusterName, a.AssociationARN); err != nil {
			return err
		}
		return s.authorizePassRoles(r, &a.RoleARN, &a.TargetRoleARN)
	}
}

func (s *Server) describeAssociation(w http.ResponseWriter, r *http.Request, _ []byte) error {
	a, err := s.svc.DescribeAssociation(r.Context(), clusterName(r), r.PathValue("associationId"))
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, associationResponse{Association: wireAssociation(a)})
	return nil
}

func (s *Server) updateAssociation(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req updateAssociationRequest
	if err := awsproto.DecodeJSON(body, &req); err != nil {
		return err
	}
	if err := s.authorizePassRoles(r, req.RoleARN, req.TargetRoleARN); err != nil {
		return err
	}
	who := callerFrom(r.Context())
	a, err := s.svc.UpdateAssociation(r.Context(), pi.UpdateAssociationInput{
		// Clearing the target role passes the role: pods that got the
		// target role's credentials through it get its own from now on.
		// Decided inside the update, on the target it actually clears.
		Check: func(before, after *pi.Association) error {
			if before.TargetRoleARN != "" && after.TargetRoleARN == "" {
				return s.authz.AuthorizePassRole(who, after.RoleARN)
			}
			return nil
		},
		ClusterName:        clusterName(r),
		AssociationID:      r.PathValue("associationId"),
		RoleARN:            req.RoleARN,
		TargetRoleARN:      req.TargetRoleARN,
		DisableSessionTags: req.DisableSessionTags,
		Policy:             req.Policy,
		ClientRequestToken: req.ClientRequestToken,
	})
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, associationResponse{Association: wireAssociation(a)})
	return nil
}

func (s *Server) deleteAssociation(w http.ResponseWriter, r *http.Request, _ []byte) error {
	a, err := s.svc.DeleteAssociation(r.Context(), clusterName(r), r.PathValue("associationId"))
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, associationResponse{Association: wireAssociation(a)})
	return nil
}

func (s *Server) listAssociations(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q, err := singleValued(r.URL.Query(), "namespace", "serviceAccount", "maxResults", "nextToken")
	if err != nil {
		return err
	}
	maxResults, err := parseMaxResults(q)
	if err != nil {
		return err
	}
	out, err := s.svc.ListAssociations(r.Context(), pi.ListAssociationsInput{
		ClusterName:    clusterName(r),
		Namespace:      q.Get("namespace"),
		ServiceAccount: q.Get("serviceAccount"),
		MaxResults:     maxResults,
		NextToken:      q.Get("nextToken"),
	})
	if err != nil {
		return err
	}
	resp := listAssociationsResponse{Associations: []podIdentityAssociationSummary{}, NextToken: out.NextToken}
	for i := range out.Associations {
		resp.Associations = append(resp.Associations, summaryOf(&out.Associations[i]))
	}
	awsproto.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) resolveAssociation(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q, err := singleValued(r.URL.Query(), "namespace", "serviceAccount")
	if err != nil {
		return err
	}
	switch {
	case q.Get("namespace") == "":
		return errMissing("namespace")
	case q.Get("serviceAccount") == "":
		return errMissing("serviceAccount")
	}
	a, err := s.svc.ResolveAssociation(r.Context(), clusterName(r), q.Get("namespace"), q.Get("serviceAccount"))
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, resolveAssociationResponse{Association: summaryOf(a)})
	return nil
}

// summaryOf is an association as List (and Resolve) answer it: the
// model's PodIdentityAssociationSummary.
func summaryOf(a *pi.Association) podIdentityAssociationSummary {
	return podIdentityAssociationSummary{
		ClusterName:    a.ClusterName,
		Namespace:      a.Namespace,
		ServiceAccount: a.ServiceAccount,
		AssociationARN: a.AssociationARN,
		AssociationID:  a.AssociationID,
		OwnerARN:       a.OwnerARN,
	}
}

func (s *Server) listClusters(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q, err := singleValued(r.URL.Query(), "maxResults", "nextToken")
	if err != nil {
		return err
	}
	maxResults, err := parseMaxResults(q)
	if err != nil {
		return err
	}
	// ListClusters is authorized account-wide, as in IAM; the answer holds
	// only the clusters the caller's grant for it covers, so that one
	// tenant does not learn the others' cluster names.
	who := callerFrom(r.Context())
	visible := func(name string) bool {
		return s.authz.Authorize(who, "eks:ListClusters", name, s.svc.ClusterARN(name)) == nil
	}
	names, next, err := s.svc.ListClusters(maxResults, q.Get("nextToken"), visible)
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, listClustersResponse{Clusters: names, NextToken: next})
	return nil
}

func (s *Server) describeCluster(w http.ResponseWriter, r *http.Request, _ []byte) error {
	c, tags, err := s.svc.ClusterWithTags(r.Context(), clusterName(r))
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, describeClusterResponse{Cluster: wireCluster{
		Name:      c.Name,
		ARN:       c.ARN,
		CreatedAt: awsproto.EpochSeconds(c.CreatedAt),
		Endpoint:  c.Endpoint,
		Identity:  clusterIdentity{OIDC: clusterOIDC{Issuer: c.Issuer}},
		Status:    "ACTIVE",
		Tags:      tags,
	}})
	return nil
}

func (s *Server) tagResource(w http.ResponseWriter, r *http.Request, body []byte) error {
	var req tagResourceRequest
	if err := awsproto.DecodeJSON(body, &req); err != nil {
		return err
	}
	if req.Tags == nil {
		return errMissing("tags")
	}
	if err := s.svc.TagResource(r.Context(), r.PathValue("resourceArn"), req.Tags, s.authorizeSessionShape(r)); err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) untagResource(w http.ResponseWriter, r *http.Request, _ []byte) error {
	keys := r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		return errMissing("tagKeys")
	}
	if err := s.svc.UntagResource(r.Context(), r.PathValue("resourceArn"), keys, s.authorizeSessionShape(r)); err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) listTags(w http.ResponseWriter, r *http.Request, _ []byte) error {
	tags, err := s.svc.ListTags(r.Context(), r.PathValue("resourceArn"))
	if err != nil {
		return err
	}
	awsproto.WriteJSON(w, http.StatusOK, listTagsResponse{Tags: tags})
	return nil
}

// singleValued refuses query parameters given more than once: two values
// for one member would leave it to chance which one counts.
func singleValued(q url.Values, names ...string) (url.Values, error) {
	for _, n := range names {
		if len(q[n]) > 1 {
			return nil, pi.Errorf(pi.CodeInvalidParameter, "Query parameter %s is given %d times; give it once.", n, len(q[n]))
		}
	}
	return q, nil
}

func parseMaxResults(q url.Values) (int, error) {
	v := q.Get("maxResults")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, pi.Errorf(pi.CodeInvalidParameter, "maxResults must be an integer between 1 and 100.")
	}
	return n, nil
}
