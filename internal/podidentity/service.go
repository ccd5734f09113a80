package podidentity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultAssociationLimit is the per-cluster association quota AWS
// documents today.
const DefaultAssociationLimit = 5000

// ServiceConfig is what a Service needs; the server assembles it from the
// configuration file.
type ServiceConfig struct {
	Store            Store
	Region           string
	AccountID        string
	Partition        string // "" = aws
	Clusters         []ClusterSpec
	AssociationLimit int // 0 = DefaultAssociationLimit
	// Patterns lets namespaces and service accounts of associations be
	// patterns ('*', '?'); off, the API accepts only names, as AWS's does.
	Patterns bool
	// SessionShaping lets association tags under ReservedTagPrefix shape
	// the role sessions of the association's pods (docs/sessions.md).
	// Off, such tags are refused: a session tag overrides the role's own
	// tag of the same key, so a tag is a grant, and on AWS nobody can set
	// one through an association.
	SessionShaping bool
	Now            func() time.Time
	Rand           io.Reader // nil = crypto/rand
	Logger         *slog.Logger
	// Credentials enables AssumeRoleForPodIdentity; CredentialPolicy says
	// how long the credentials it issues live.
	Credentials      *CredentialDeps
	CredentialPolicy CredentialPolicy
}

// ClusterSpec declares a cluster; its ARN and creation time are derived.
type ClusterSpec struct {
	Name     string
	Issuer   string
	Endpoint string
}

// Service implements the EKS pod identity association API on top of a
// Store. It owns every rule; transports only translate.
type Service struct {
	store     Store
	region    string
	accountID string
	partition string
	limit     int
	patterns  bool
	shaping   bool
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger

	clusters     map[string]*Cluster
	clusterNames []string // sorted, for ListClusters paging

	creds        *CredentialDeps // nil: AssumeRoleForPodIdentity is not served
	credPolicy   CredentialPolicy
	lookups      *lookupCache
	patternLoads singleflight.Group
}

// LookupCacheTTL bounds how long a change made through another replica can
// take to reach AssumeRoleForPodIdentity on this one.
const LookupCacheTTL = time.Second

var errNoCredentialPolicy = errors.New("AssumeRoleForPodIdentity needs ServiceConfig.Credentials")

// check reports a CredentialDeps that lacks a part AssumeRoleForPodIdentity
// calls, at start rather than on the first pod's request.
func (d *CredentialDeps) check() error {
	if d != nil && (d.Validator == nil || d.Issuer == nil || d.SessionName == nil) {
		return errors.New("podidentity: ServiceConfig.Credentials needs a Validator, an Issuer and a SessionName")
	}
	return nil
}

// NewService builds a Service and records each configured cluster's
// creation time in the store the first time the cluster is seen, so that
// DescribeCluster reports a stable createdAt across restarts and replicas.
func NewService(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if err := cfg.Credentials.check(); err != nil {
		return nil, err
	}
	s := &Service{
		store:      cfg.Store,
		region:     cfg.Region,
		accountID:  cfg.AccountID,
		partition:  cfg.Partition,
		limit:      cfg.AssociationLimit,
		patterns:   cfg.Patterns,
		shaping:    cfg.SessionShaping,
		now:        cfg.Now,
		rand:       cfg.Rand,
		log:        cfg.Logger,
		clusters:   make(map[string]*Cluster, len(cfg.Clusters)),
		creds:      cfg.Credentials,
		credPolicy: cfg.CredentialPolicy,
		lookups:    newLookupCache(LookupCacheTTL, 100_000),
	}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.limit <= 0 {
		s.limit = DefaultAssociationLimit
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Clusters {
		if _, dup := s.clusters[c.Name]; dup {
			return nil, fmt.Errorf("cluster %q is declared twice", c.Name)
		}
		created, err := s.clusterCreatedAt(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		s.clusters[c.Name] = &Cluster{
			Name:      c.Name,
			ARN:       s.ClusterARN(c.Name),
			Issuer:    c.Issuer,
			Endpoint:  c.Endpoint,
			CreatedAt: created,
		}
		s.clusterNames = append(s.clusterNames, c.Name)
	}
	sort.Strings(s.clusterNames)
	return s, nil
}

func (s *Service) clusterCreatedAt(ctx context.Context, name string) (time.Time, error) {
	now := s.now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	v, err := s.store.SetSettingIfAbsent(ctx, "cluster-created-at/"+name, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("recording cluster %q: %w", name, err)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored creation time of cluster %q is corrupt: %w", name, err)
	}
	return t, nil
}

// Region is the AWS region the server presents itself as.
func (s *Service) Region() string { return s.region }

// AccountID is the AWS account the server's clusters live in.
func (s *Service) AccountID() string { return s.accountID }

// ClusterARN returns the ARN of a cluster of this server.
func (s *Service) ClusterARN(name string) string {
	return fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", s.partition, s.region, s.accountID, name)
}

// AssociationARN returns the ARN of an association.
func (s *Service) AssociationARN(cluster, id string) string {
	return fmt.Sprintf("arn:%s:eks:%s:%s:podidentityassociation/%s/%s", s.partition, s.region, s.accountID, cluster, id)
}

// Cluster returns a configured cluster, or CodeNotFound.
func (s *Service) Cluster(name string) (*Cluster, error) {
	c, ok := s.clusters[name]
	if !ok {
		return nil, Errorf(CodeNotFound, "No cluster found for name: %s.", clip(name))
	}
	return c, nil
}

// ClusterWithTags returns a configured cluster and its tags.
func (s *Service) ClusterWithTags(ctx context.Context, name string) (*Cluster, map[string]string, error) {
	c, err := s.Cluster(name)
	if err != nil {
		return nil, nil, err
	}
	tags, err := s.store.Tags(ctx, clusterTagKey(c.Name))
	if err != nil {
		return nil, nil, err
	}
	return c, tags, nil
}

// ListClusters pages through the configured cluster names in order,
// skipping those visible rejects (nil: none): a caller sees only the
// clusters it may act on, and pages fill up with those alone.
func (s *Service) ListClusters(maxResults int, nextToken string, visible func(name string) bool) ([]string, string, error) {
	limit, err := pageSize(maxResults)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if nextToken != "" {
		after, err := decodeClusterCursor(nextToken)
		if err != nil {
			return nil, "", err
		}
		start = sort.SearchStrings(s.clusterNames, after)
		if start < len(s.clusterNames) && s.clusterNames[start] == after {
			start++
		}
	}
	page := []string{}
	for i := start; i < len(s.clusterNames); i++ {
		name := s.clusterNames[i]
		if visible != nil && !visible(name) {
			continue
		}
		if len(page) == limit {
			// Another visible cluster exists: there is a next page.
			return page, encodeClusterCursor(page[len(page)-1]), nil
		}
		page = append(page, name)
	}
	return page, "", nil
}

func pageSize(maxResults int) (int, error) {
	switch {
	case maxResults == 0:
		return defaultListPageSize, nil
	case maxResults < 1 || maxResults > maxListPageSize:
		return 0, Errorf(CodeInvalidParameter, "maxResults must be between 1 and %d", maxListPageSize)
	}
	return maxResults, nil
}
