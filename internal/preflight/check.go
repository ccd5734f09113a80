package preflight

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/satoken"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
	"github.com/podidentity/podidentity/internal/store/storeurl"
)

// storageTimeout bounds the storage check, so that an unreachable
// database fails the check instead of hanging it.
const storageTimeout = 10 * time.Second

// Report is the outcome of a check: problems, or a summary of what the
// configuration sets up.
type Report struct {
	Path     string
	Problems []string
	Warnings []string // likely mistakes that do not stop the server
	Summary  Summary
}

// Summary is what a valid configuration serves.
type Summary struct {
	Listen, Region, AccountID string
	Clusters                  []string
	Principals, RoleGrants    int
	Storage                   string // password hidden
	StorageState              string // what opening it found
	Backend                   string
	SealingKeys               int
}

// OK reports whether the check found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Flags are the server's command-line settings that override the file's,
// so that the check sees what the server would run with.
type Flags struct {
	Listen string // --listen
}

// Check reads the configuration file at path and checks all of it, as
// the server would run it with flags.
func Check(ctx context.Context, path string, flags Flags) *Report {
	r := &Report{Path: path}
	b, err := os.ReadFile(path)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("reading the file: %v", err))
		return r
	}
	f, err := config.Decode(b)
	var keyErrs *config.KeyErrors
	switch {
	case errors.As(err, &keyErrs):
		r.Problems = append(r.Problems, keyErrs.Problems...)
	case err != nil:
		// Broken YAML: nothing below can be read.
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	if flags.Listen != "" {
		f.Listen = flags.Listen
	}
	r.Problems = append(r.Problems, f.Problems()...)
	r.Warnings = f.Warnings()
	c := &checker{r: r, invalid: keysOf(r.Problems)}
	c.clusters(f)
	c.sealingKeys(f)
	c.principals(f)
	c.storage(ctx, f)
	r.Summary = summarize(f)
	r.Summary.StorageState = storageState(f.Storage)
	return r
}

// checker adds the problems of the files and environment a configuration
// names, skipping entries the file itself already got wrong.
type checker struct {
	r       *Report
	invalid map[string]bool // keys with a problem in the file itself
}

func (c *checker) add(key, format string, args ...any) {
	c.r.Problems = append(c.r.Problems, key+": "+fmt.Sprintf(format, args...))
}

// clusters loads each cluster's token key file, CA bundles and
// TokenReview token exactly as the server does at start. Remote keys
// (jwksURL, discovery) are fetched at start and on demand, with retries,
// so they are not fetched here.
func (c *checker) clusters(f *config.File) {
	for i, cc := range TokenClusters(f) {
		key := fmt.Sprintf("clusters[%d]", i)
		if c.invalidUnder(key) {
			continue
		}
		if _, err := satoken.New([]satoken.ClusterConfig{cc}, satoken.Options{}); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				c.add(fmt.Sprintf("%s (%s)", key, cc.Name), "%s", strings.TrimPrefix(line, "cluster "+cc.Name+": "))
			}
		}
	}
}

// TokenClusters is the token validator's configuration of the file's
// clusters: the server's and the check's, so both read the files alike.
func TokenClusters(f *config.File) []satoken.ClusterConfig {
	out := make([]satoken.ClusterConfig, 0, len(f.Clusters))
	for _, c := range f.Clusters {
		cc := satoken.ClusterConfig{Name: c.Name, Issuer: c.Issuer, JWKSFile: c.JWKSFile, JWKSURL: c.JWKSURL, Discovery: c.Discovery,
			CAFile: c.CAFile, MaxTokenLifetime: c.MaxTokenLifetime}
		if c.TokenReview != nil {
			cc.TokenReview = &satoken.TokenReviewConfig{APIServer: c.TokenReview.APIServer, CAFile: c.TokenReview.CAFile, TokenFile: c.TokenReview.TokenFile}
		}
		out = append(out, cc)
	}
	return out
}

func (c *checker) sealingKeys(f *config.File) {
	for i, k := range f.Credentials.SealingKeys {
		key := fmt.Sprintf("credentials.sealingKeys[%d]", i)
		if c.invalidUnder(key) {
			continue
		}
		var err error
		if k.KeyFile != "" {
			_, err = local.LoadKeyFile(k.ID, k.KeyFile)
		} else {
			_, err = local.ParseKey(k.ID, k.Key)
		}
		if err != nil {
			c.add(key, "%v", err)
		}
	}
}

// principals checks that each secret access key can be read; the errors
// name the file or variable, never the secret.
func (c *checker) principals(f *config.File) {
	for i, p := range f.Auth.Principals {
		key := fmt.Sprintf("auth.principals[%d]", i)
		if c.invalid[key] {
			continue
		}
		switch {
		case p.SecretAccessKeyFile != "":
			c.secretFile(key+".secretAccessKeyFile", p.SecretAccessKeyFile)
		case p.SecretAccessKeyEnv != "":
			c.env(key+".secretAccessKeyEnv", p.SecretAccessKeyEnv)
		}
	}
	o := f.StorageOptions
	switch {
	case o.PasswordFile != "":
		c.secretFile("storageOptions.passwordFile", o.PasswordFile)
	case o.PasswordEnv != "":
		c.env("storageOptions.passwordEnv", o.PasswordEnv)
	}
}

func (c *checker) secretFile(key, path string) {
	b, err := os.ReadFile(path)
	switch {
	case err != nil:
		c.add(key, "%v", err)
	case strings.TrimSpace(string(b)) == "":
		c.add(key, "%s is empty", path)
	}
}

func (c *checker) env(key, name string) {
	if v, ok := os.LookupEnv(name); !ok {
		c.add(key, "the environment variable %s is not set", name)
	} else if v == "" {
		c.add(key, "the environment variable %s is empty", name)
	}
}

// storage opens the store without changing it.
func (c *checker) storage(ctx context.Context, f *config.File) {
	if c.invalid["storage"] || c.invalidUnder("storageOptions") {
		return
	}
	// A password that cannot be read is reported above. Without its file
	// there is nothing to connect with; an unset variable is tried as an
	// empty password, which the database then judges.
	password, err := f.StorageOptions.Password()
	if err != nil && f.StorageOptions.PasswordFile != "" {
		return
	}
	opts := sqlstore.Options{MaxConns: f.StorageOptions.MaxConns, MinConns: f.StorageOptions.MinConns, Password: password}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := sqlstore.Check(ctx, f.Storage, opts); err != nil {
		c.add("storage", "%s", strings.TrimPrefix(err.Error(), "storage: "))
	}
}

// storageState says what the server will find in a store that checked
// clean.
func storageState(storage string) string {
	u, _ := storeurl.Parse(storage)
	switch u.Kind {
	case storeurl.Memory:
		return "in memory: gone when the server stops"
	case storeurl.SQLite:
		if _, err := os.Stat(u.Path); err != nil {
			return "no database yet: the server creates it"
		}
		return "an existing database"
	}
	return "reachable"
}

// keysOf is the set of keys the problems name.
func keysOf(problems []string) map[string]bool {
	keys := map[string]bool{}
	for _, p := range problems {
		if key, _, ok := strings.Cut(p, ": "); ok {
			keys[key] = true
		}
	}
	return keys
}

// invalidUnder reports whether the file itself has a problem at key or
// under it ("clusters[0].name" is under "clusters[0]").
func (c *checker) invalidUnder(key string) bool {
	for k := range c.invalid {
		if k == key || strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

func summarize(f *config.File) Summary {
	s := Summary{Listen: f.Listen, Region: f.Region, AccountID: f.AccountID, Principals: len(f.Auth.Principals),
		RoleGrants: len(f.Auth.Roles), Storage: storeurl.Redacted(f.Storage), Backend: f.Credentials.Backend, SealingKeys: len(f.Credentials.SealingKeys)}
	for _, c := range f.Clusters {
		s.Clusters = append(s.Clusters, c.Name)
	}
	return s
}

// Write prints the report: every problem, or the summary.
func (r *Report) Write(w io.Writer) {
	if !r.OK() {
		n := "1 problem"
		if len(r.Problems) > 1 {
			n = fmt.Sprintf("%d problems", len(r.Problems))
		}
		fmt.Fprintf(w, "%s: %s:\n", r.Path, n)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		r.writeWarnings(w)
		return
	}
	defer r.writeWarnings(w)
	s := r.Summary
	keys := "a key generated once and kept in the store"
	if s.SealingKeys > 0 {
		keys = fmt.Sprintf("%d sealing keys", s.SealingKeys)
	}
	fmt.Fprintf(w, "%s: OK\n", r.Path)
	fmt.Fprintf(w, "  listen       %s (region %s, account %s)\n", s.Listen, s.Region, s.AccountID)
	fmt.Fprintf(w, "  clusters     %d: %s\n", len(s.Clusters), strings.Join(s.Clusters, ", "))
	fmt.Fprintf(w, "  principals   %d, role grants %d\n", s.Principals, s.RoleGrants)
	fmt.Fprintf(w, "  storage      %s (%s)\n", s.Storage, s.StorageState)
	fmt.Fprintf(w, "  credentials  backend %s, %s\n", s.Backend, keys)
}

func (r *Report) writeWarnings(w io.Writer) {
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
}
