// Package config is the file format of `podidentity server --config`: YAML
// parsed strictly (an unknown key is an error that names it), defaults
// applied, and Validate reporting every problem at once. It knows nothing
// of how components use the values; the command turns a File into each
// component's own runtime configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the server's configuration file.
type File struct {
	Listen string `yaml:"listen"`
	// Hostnames are the names clients reach the server by, with or without
	// a port ("podidentity.example.com", "10.0.0.5:8080"). When set, a
	// request signed for any other Host is refused: a signature made for
	// another endpoint cannot be replayed here. Empty: any Host.
	Hostnames []string `yaml:"hostnames"`
	Region    string   `yaml:"region"`
	AccountID string   `yaml:"accountId"`
	Storage   string   `yaml:"storage"`
	// StorageOptions tune the storage backend (PostgreSQL: pool sizes, a
	// password kept out of the URL).
	StorageOptions StorageOptions `yaml:"storageOptions"`
	Clusters       []Cluster      `yaml:"clusters"`
	Credentials    Credentials    `yaml:"credentials"`
	Auth           Auth           `yaml:"auth"`
	Limits         Limits         `yaml:"limits"`
	Associations   Associations   `yaml:"associations"`
	Log            Log            `yaml:"log"`
}

// Cluster declares a Kubernetes cluster and where its token keys come from.
type Cluster struct {
	Name        string       `yaml:"name"`
	Issuer      string       `yaml:"issuer"`
	JWKSFile    string       `yaml:"jwksFile"`
	JWKSURL     string       `yaml:"jwksURL"`
	Discovery   bool         `yaml:"discovery"`
	CAFile      string       `yaml:"caFile"`
	Endpoint    string       `yaml:"endpoint"`
	TokenReview *TokenReview `yaml:"tokenReview"`
	// SharedIssuer allows this cluster to have the same issuer as another
	// cluster entry that also sets it. Tokens are told apart by issuer
	// alone, so such entries accept each other's tokens: use it only for
	// entries that are one Kubernetes cluster (say, one with TokenReview
	// and one without).
	SharedIssuer bool `yaml:"sharedIssuer"`
	// MaxTokenLifetime, when set, refuses service-account tokens issued
	// for longer (exp - iat), and tokens without iat.
	MaxTokenLifetime time.Duration `yaml:"maxTokenLifetime"`
	// PodTokenAuth lets EKS Auth AssumeRoleForPodIdentity calls for this
	// cluster come without a SigV4 signature, authenticated by the pod's
	// token alone (sidecar delivery, where no node credentials exist).
	// Allowed only with tokenReview, which proves the token belongs to a
	// live pod: the trust model of IRSA's AssumeRoleWithWebIdentity.
	PodTokenAuth bool `yaml:"podTokenAuth"`
}

// TokenReview asks the cluster's API server to confirm each token.
type TokenReview struct {
	APIServer string `yaml:"apiServer"`
	CAFile    string `yaml:"caFile"`
	TokenFile string `yaml:"tokenFile"`
}

// StorageOptions tune the storage backend.
type StorageOptions struct {
	PasswordFile string `yaml:"passwordFile"` // database password, read from a file
	PasswordEnv  string `yaml:"passwordEnv"`  // database password, read from this environment variable
	MaxConns     int    `yaml:"maxConns"`
	MinConns     int    `yaml:"minConns"`
}

// Credentials selects and configures the credential backend.
type Credentials struct {
	Backend string `yaml:"backend"`
	// Endpoint and Region address AWS STS for the sts backend; empty: the
	// SDK's defaults for the region.
	Endpoint               string        `yaml:"endpoint"`
	Region                 string        `yaml:"region"`
	SealingKeys            []SealingKey  `yaml:"sealingKeys"`
	SessionDuration        time.Duration `yaml:"sessionDuration"`
	ChainedSessionDuration time.Duration `yaml:"chainedSessionDuration"`
	// RoleSessionDuration is another name for SessionDuration (STS calls it
	// the role session duration); ApplyDefaults copies it over.
	RoleSessionDuration time.Duration `yaml:"roleSessionDuration"`
}

// SealingKey is a key that seals local session tokens.
type SealingKey struct {
	ID      string `yaml:"id"`
	Key     string `yaml:"key"`
	KeyFile string `yaml:"keyFile"`
}

// Auth lists who may call the APIs.
type Auth struct {
	Principals []Principal `yaml:"principals"`
	// Roles grant permissions to role sessions this server minted, by role
	// ARN pattern. Without a grant such a session may only call
	// sts:GetCallerIdentity.
	Roles []RoleGrant `yaml:"roles"`
}

// RoleGrant gives sessions of matching roles actions on clusters.
type RoleGrant struct {
	RoleARN  string   `yaml:"roleArn"`
	Actions  []string `yaml:"actions"`
	Clusters []string `yaml:"clusters"`
	// PassRoles: as Principal.PassRoles, for the role's sessions.
	PassRoles []string `yaml:"passRoles"`
}

// Principal is an API caller with a long-term access key.
type Principal struct {
	ARN                 string   `yaml:"arn"`
	AccessKeyID         string   `yaml:"accessKeyId"`
	SecretAccessKey     string   `yaml:"secretAccessKey"`
	SecretAccessKeyFile string   `yaml:"secretAccessKeyFile"`
	SecretAccessKeyEnv  string   `yaml:"secretAccessKeyEnv"`
	Actions             []string `yaml:"actions"`
	Clusters            []string `yaml:"clusters"`
	// PassRoles are the role ARN patterns (IAM wildcards, case-sensitive)
	// the principal may name as roleArn or targetRoleArn when it creates or
	// updates an association: IAM's iam:PassRole. Required when its
	// actions allow either.
	PassRoles []string `yaml:"passRoles"`
}

// Associations turns on what goes beyond AWS's association API.
type Associations struct {
	// Patterns lets an association's namespace and service account contain
	// '*' and '?' (docs/patterns.md). Off: names only, as on AWS.
	Patterns bool `yaml:"patterns"`
	// SessionShaping lets association tags under podidentity.io/ set the
	// session name and session tags of the association's pods
	// (docs/sessions.md). Off: such tags are refused. A session tag is a
	// grant (it overrides the role's tag of that key), so whoever may
	// set one must be trusted with it: this is the administrator's call.
	SessionShaping bool `yaml:"sessionShaping"`
}

// Limits are quotas.
type Limits struct {
	AssociationsPerCluster int `yaml:"associationsPerCluster"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, text
}

// Defaults.
const (
	DefaultListen    = "127.0.0.1:8080"
	DefaultRegion    = "us-west-2"
	DefaultAccountID = "123456789012"
	DefaultStorage   = "sqlite://podidentity.db"
)

// Load reads, parses, defaults and validates a configuration file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Parse parses YAML strictly, applies defaults and validates.
func Parse(b []byte) (*File, error) {
	f, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// Decode parses YAML strictly and applies defaults, without validating:
// for a caller that reports Problems along with its own findings. An
// unknown key or a value of the wrong type does not stop decoding: Decode
// returns the File read around them and a *KeyErrors naming each. Any
// other error (broken YAML, an empty file) comes with no File.
func Decode(b []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var keyErrs *KeyErrors
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlError(err)
		}
		keyErrs = &KeyErrors{}
		for _, e := range te.Errors {
			keyErrs.Problems = append(keyErrs.Problems, yamlError(errors.New(e)).Error())
		}
	}
	if keyErrs == nil && reflect.ValueOf(f).IsZero() {
		// Most likely the wrong file, or one not yet written: serving
		// every default (no clusters, ./podidentity.db) would hide that.
		return nil, errors.New("the file is empty: declare at least the clusters (the README's Configuration section shows every key), or run the server with --dev to try it without a file")
	}
	f.ApplyDefaults()
	if keyErrs != nil {
		return &f, keyErrs
	}
	return &f, nil
}

// KeyErrors are the unknown keys and mistyped values of a file.
type KeyErrors struct{ Problems []string }

func (e *KeyErrors) Error() string { return strings.Join(e.Problems, "\n  ") }

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// yamlError rewrites yaml.v3's Go-flavoured messages in the file's terms.
func yamlError(err error) error {
	msg := unknownField.ReplaceAllString(err.Error(), `line $1: unknown key "$2"`)
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// ApplyDefaults fills in what the file leaves out.
func (f *File) ApplyDefaults() {
	if f.Listen == "" {
		f.Listen = DefaultListen
	}
	if f.Region == "" {
		f.Region = DefaultRegion
	}
	if f.AccountID == "" {
		f.AccountID = DefaultAccountID
	}
	if f.Storage == "" {
		f.Storage = DefaultStorage
	}
	if f.Credentials.Backend == "" {
		f.Credentials.Backend = "local"
	}
	if f.Credentials.SessionDuration == 0 {
		f.Credentials.SessionDuration = f.Credentials.RoleSessionDuration
	}
	if f.Credentials.SessionDuration == 0 {
		f.Credentials.SessionDuration = 6 * time.Hour
	}
	if f.Credentials.ChainedSessionDuration == 0 {
		f.Credentials.ChainedSessionDuration = time.Hour
	}
	if f.Limits.AssociationsPerCluster == 0 {
		f.Limits.AssociationsPerCluster = 5000
	}
	if f.Log.Level == "" {
		f.Log.Level = "info"
	}
	if f.Log.Format == "" {
		f.Log.Format = "json"
	}
}
