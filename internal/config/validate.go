package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/iamglob"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/storeurl"
)

var (
	accessKeyPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	hostnamePattern  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// Validate reports every problem in the file at once, each naming its key.
func (f *File) Validate() error {
	return problems(f.Problems()).err()
}

// Problems lists every problem in the file, each starting with its key.
// Warnings are what a valid file sets up that is very likely a mistake:
// the server starts with them, and says so in its log and in --check.
func (f *File) Warnings() []string {
	var w []string
	if len(f.Clusters) == 0 {
		w = append(w, "clusters: none declared: the server can exchange no token and create no association until a cluster is added")
	}
	return w
}

func (f *File) Problems() []string {
	var p problems
	if msg := listenProblem(f.Listen); msg != "" {
		p.add("listen", "%q %s", f.Listen, msg)
	}
	for i, h := range f.Hostnames {
		if !validHostname(h) {
			p.add(fmt.Sprintf("hostnames[%d]", i), "%q is not a host name or address with an optional port, such as podidentity.example.com or 10.0.0.5:8080", h)
		}
	}
	if !validRegion(f.Region) {
		p.add("region", "%q is not a region of an AWS partition, such as us-west-2 or eu-central-1", f.Region)
	}
	if !pi.ValidAccountID(f.AccountID) {
		p.add("accountId", "%q must be 12 digits (quote it in YAML so leading zeros survive)", f.AccountID)
	}
	storage, err := storeurl.Parse(f.Storage)
	switch {
	case errors.Is(err, storeurl.ErrNoFile):
		p.add("storage", "names no database file")
	case err != nil:
		p.add("storage", "%s must be %s", storeurl.Redacted(f.Storage), storeurl.Usage)
	}
	f.StorageOptions.validate(f.Storage, storage.Kind, &p)
	seen := map[string]string{} // lower-cased name → name as first declared
	for i, c := range f.Clusters {
		c.validate(fmt.Sprintf("clusters[%d]", i), &p)
		// Names differing only in case are refused: a grant for one must
		// never be read as a grant for the other, by us or by an operator.
		switch first, dup := seen[strings.ToLower(c.Name)]; {
		case dup && first == c.Name:
			p.add(fmt.Sprintf("clusters[%d].name", i), "cluster %q is declared more than once", c.Name)
		case dup:
			p.add(fmt.Sprintf("clusters[%d].name", i), "cluster %q differs from cluster %q only in case; cluster names must differ in more than case", c.Name, first)
		default:
			seen[strings.ToLower(c.Name)] = c.Name
		}
	}
	f.validateIssuers(&p)
	f.Credentials.validate(&p)
	keys := map[string]bool{}
	for i, pr := range f.Auth.Principals {
		key := fmt.Sprintf("auth.principals[%d]", i)
		pr.validate(key, &p)
		if keys[pr.AccessKeyID] {
			p.add(key+".accessKeyId", "is used by another principal")
		}
		keys[pr.AccessKeyID] = true
	}
	for i, r := range f.Auth.Roles {
		key := fmt.Sprintf("auth.roles[%d]", i)
		if !strings.HasPrefix(r.RoleARN, "arn:") {
			p.add(key+".roleArn", "%q is not a role ARN pattern such as arn:aws:iam::123456789012:role/*", r.RoleARN)
		}
		if len(r.Actions) == 0 {
			p.add(key+".actions", "list the actions the role's sessions may call")
		}
		validateActions(key, r.Actions, &p)
		if len(r.Clusters) == 0 {
			p.add(key+".clusters", `list the clusters the role's sessions may act on, e.g. ["*"]`)
		}
		validatePassRoles(key, "sessions of role "+r.RoleARN, r.Actions, r.PassRoles, &p)
	}
	if f.Limits.AssociationsPerCluster < 1 {
		p.add("limits.associationsPerCluster", "must be at least 1")
	}
	switch f.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q must be debug, info, warn or error", f.Log.Level)
	}
	switch f.Log.Format {
	case "json", "text":
	default:
		p.add("log.format", "%q must be json or text", f.Log.Format)
	}
	return p
}

// validateIssuers refuses two clusters with one issuer unless both opt in:
// a token names its cluster only through its issuer, so the token of one
// would be exchanged for the other's credentials.
func (f *File) validateIssuers(p *problems) {
	first := map[string]int{} // normalised issuer → index of its first cluster
	for i, c := range f.Clusters {
		iss := strings.ToLower(strings.TrimSuffix(c.Issuer, "/"))
		j, seen := first[iss]
		if !seen {
			first[iss] = i
			continue
		}
		if c.SharedIssuer && f.Clusters[j].SharedIssuer {
			continue
		}
		p.add(fmt.Sprintf("clusters[%d].issuer", i),
			"cluster %q has the issuer of cluster %q (%s), so each would accept the other's service-account tokens; give each cluster its own issuer, or set sharedIssuer: true on both if they are one Kubernetes cluster",
			c.Name, f.Clusters[j].Name, c.Issuer)
	}
}

func (c Cluster) validate(key string, p *problems) {
	if !pi.ValidClusterName(c.Name) {
		p.add(key+".name", "%q is not a valid EKS cluster name (letters, digits, '-' and '_', starting with a letter or digit, at most 100)", c.Name)
	}
	if u, err := url.Parse(c.Issuer); c.Issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(key+".issuer", "%q must be the cluster's service-account issuer URL (https://...)", c.Issuer)
	}
	sources := 0
	if c.JWKSFile != "" {
		sources++
	}
	if c.JWKSURL != "" {
		sources++
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			p.add(key+".jwksURL", "%q is not an http(s) URL", c.JWKSURL)
		}
	}
	if c.Discovery {
		sources++
	}
	if sources != 1 {
		p.add(key, "set exactly one of jwksFile, jwksURL or discovery: true")
	}
	if c.MaxTokenLifetime != 0 && c.MaxTokenLifetime < 10*time.Minute {
		p.add(key+".maxTokenLifetime", "%s is shorter than the 10m Kubernetes allows a projected token to be", c.MaxTokenLifetime)
	}
	if c.TokenReview != nil {
		if u, err := url.Parse(c.TokenReview.APIServer); err != nil || u.Scheme != "https" || u.Host == "" {
			p.add(key+".tokenReview.apiServer", "%q must be the cluster's https API server URL", c.TokenReview.APIServer)
		}
		if c.TokenReview.TokenFile == "" {
			p.add(key+".tokenReview.tokenFile", "is required: a service-account token allowed to create TokenReviews")
		}
	}
	if c.PodTokenAuth && c.TokenReview == nil {
		p.add(key+".podTokenAuth", "cluster %q: requires tokenReview, so that an unsigned call's token is proven to belong to a live pod", c.Name)
	}
}

func (c Credentials) validate(p *problems) {
	switch c.Backend {
	case "local", "sts":
	default:
		p.add("credentials.backend", "%q must be local or sts", c.Backend)
	}
	ids := map[string]bool{}
	for i, k := range c.SealingKeys {
		key := fmt.Sprintf("credentials.sealingKeys[%d]", i)
		if k.ID == "" {
			p.add(key+".id", "is required")
		} else if ids[k.ID] {
			p.add(key+".id", "%q is used twice", k.ID)
		}
		ids[k.ID] = true
		if (k.Key == "") == (k.KeyFile == "") {
			p.add(key, "set exactly one of key or keyFile")
		}
	}
	durationKey := "credentials.sessionDuration"
	if c.RoleSessionDuration != 0 {
		if c.RoleSessionDuration != c.SessionDuration {
			p.add("credentials.roleSessionDuration", "%s conflicts with sessionDuration %s: they name the same setting; set one of them",
				c.RoleSessionDuration, c.SessionDuration)
		} else {
			durationKey = "credentials.roleSessionDuration"
		}
	}
	if c.SessionDuration < 15*time.Minute || c.SessionDuration > 12*time.Hour {
		p.add(durationKey, "%s must be between 15m and 12h", c.SessionDuration)
	}
	if c.Endpoint != "" {
		if c.Backend != "sts" {
			p.add("credentials.endpoint", "applies only to backend sts")
		} else if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add("credentials.endpoint", "%q must be the http(s) URL of AWS STS or an STS-compatible endpoint", c.Endpoint)
		}
	}
	if c.Region != "" {
		if c.Backend != "sts" {
			p.add("credentials.region", "applies only to backend sts")
		} else if !validRegion(c.Region) {
			p.add("credentials.region", "%q is not a region of an AWS partition, such as us-east-1", c.Region)
		}
	}
	if c.ChainedSessionDuration < 15*time.Minute || c.ChainedSessionDuration > time.Hour {
		p.add("credentials.chainedSessionDuration", "%s must be between 15m and 1h (AWS caps role chaining at 1h)", c.ChainedSessionDuration)
	}
}

func (pr Principal) validate(key string, p *problems) {
	if !strings.HasPrefix(pr.ARN, "arn:") {
		p.add(key+".arn", "%q is not an ARN", pr.ARN)
	}
	if !accessKeyPattern.MatchString(pr.AccessKeyID) {
		p.add(key+".accessKeyId", "must be 16 or more uppercase letters and digits")
	}
	n := 0
	for _, s := range []string{pr.SecretAccessKey, pr.SecretAccessKeyFile, pr.SecretAccessKeyEnv} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		p.add(key, "set exactly one of secretAccessKey, secretAccessKeyFile or secretAccessKeyEnv")
	}
	if len(pr.Actions) == 0 {
		p.add(key+".actions", "list the actions the principal may call, e.g. eks:*")
	}
	validateActions(key, pr.Actions, p)
	if len(pr.Clusters) == 0 {
		p.add(key+".clusters", `list the clusters the principal may act on, e.g. ["*"]`)
	}
	validatePassRoles(key, "principal "+pr.ARN, pr.Actions, pr.PassRoles, p)
}

func validateActions(key string, actions []string, p *problems) {
	for i, a := range actions {
		if msg := actionPatternProblem(a); msg != "" {
			p.add(fmt.Sprintf("%s.actions[%d]", key, i), "%q %s", a, msg)
		}
	}
}

// validHostname accepts what a Host header carries: a DNS name or an IP
// address (IPv6 in brackets when a port follows), optionally with a port.
func validHostname(h string) bool {
	name := h
	if n, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		name = n
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if net.ParseIP(name) != nil {
		return true
	}
	return hostnamePattern.MatchString(name)
}

// passRoleActions are the operations that name roles (iam:PassRole).
var passRoleActions = []string{"eks:CreatePodIdentityAssociation", "eks:UpdatePodIdentityAssociation"}

// validatePassRoles insists that whoever may create or update associations
// says which roles it may pass: a missing list must not silently mean
// "any role" (privilege escalation) nor "none" (a broken upgrade).
func validatePassRoles(key, who string, actions, passRoles []string, p *problems) {
	for _, r := range passRoles {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			p.add(key+".passRoles", "%q is not a role ARN pattern such as arn:aws:iam::123456789012:role/team-a-*", r)
		}
	}
	if len(passRoles) > 0 {
		return
	}
	for _, a := range passRoleActions {
		if iamglob.MatchAnyAction(actions, a) {
			p.add(key+".passRoles", `%s may call %s: list the role ARN patterns it may name as roleArn or targetRoleArn (iam:PassRole), e.g. passRoles: ["*"] for any role`, who, a)
			return
		}
	}
}

func (o StorageOptions) validate(storage string, kind storeurl.Kind, p *problems) {
	if kind == storeurl.Postgres {
		if u, err := url.Parse(storage); err != nil {
			// url's message would repeat the URL, password included.
			p.add("storage", "is not a valid postgres:// URL")
		} else if _, has := u.User.Password(); has && (o.PasswordFile != "" || o.PasswordEnv != "") {
			p.add("storage", "carries a password and storageOptions names another; keep it in one place")
		}
	} else if o != (StorageOptions{}) {
		p.add("storageOptions", "applies to postgres:// storage only")
	}
	if o.PasswordFile != "" && o.PasswordEnv != "" {
		p.add("storageOptions", "set at most one of passwordFile or passwordEnv")
	}
	if o.MaxConns < 0 {
		p.add("storageOptions.maxConns", "must not be negative")
	}
	if o.MinConns < 0 {
		p.add("storageOptions.minConns", "must not be negative")
	}
	if o.MaxConns > 0 && o.MinConns > o.MaxConns {
		p.add("storageOptions.minConns", "%d exceeds maxConns %d", o.MinConns, o.MaxConns)
	}
}

// problems collects validation failures so they are reported together.
type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New("invalid configuration:\n  " + strings.Join(p, "\n  "))
}
