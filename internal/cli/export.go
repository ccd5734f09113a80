package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/podidentity/podidentity/internal/config"
	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// storeOptions turns the configuration's storageOptions into the store's,
// reading the password from its file or environment variable.
func storeOptions(o config.StorageOptions) (sqlstore.Options, error) {
	opts := sqlstore.Options{MaxConns: o.MaxConns, MinConns: o.MinConns}
	switch {
	case o.PasswordFile != "":
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return opts, fmt.Errorf("storageOptions.passwordFile: %w", err)
		}
		// Secret files usually end in a newline that is not part of it.
		opts.Password = strings.TrimRight(string(b), "\r\n")
		if opts.Password == "" {
			return opts, fmt.Errorf("storageOptions.passwordFile: %s is empty", o.PasswordFile)
		}
	case o.PasswordEnv != "":
		opts.Password = os.Getenv(o.PasswordEnv)
		if opts.Password == "" {
			return opts, fmt.Errorf("storageOptions.passwordEnv: the environment variable %s is not set", o.PasswordEnv)
		}
	}
	return opts, nil
}

// storageFlags are how export and import name their store: a URL, or the
// server's configuration file (its storage and storageOptions).
type storageFlags struct {
	storage *string
	config  *string
}

func addStorageFlags(fs *flag.FlagSet) storageFlags {
	return storageFlags{
		storage: fs.String("storage", "", "storage URL: sqlite:///path.db or postgres://user@host/db (password from PGPASSWORD or ~/.pgpass)"),
		config:  fs.String("config", "", "take storage and storageOptions from this server configuration file instead"),
	}
}

func (f storageFlags) open(ctx context.Context) (*sqlstore.DB, error) {
	switch {
	case (*f.storage == "") == (*f.config == ""):
		return nil, errors.New("give exactly one of --storage or --config")
	case *f.storage != "":
		if *f.storage == "memory" {
			return nil, errors.New("--storage memory holds nothing outside a running server")
		}
		return sqlstore.Open(ctx, *f.storage)
	}
	cfg, err := config.Load(*f.config)
	if err != nil {
		return nil, err
	}
	opts, err := storeOptions(cfg.StorageOptions)
	if err != nil {
		return nil, err
	}
	return sqlstore.OpenOptions(ctx, cfg.Storage, opts)
}

// The export format: one JSON object, associations streamed one per line
// so that a large store is never held in memory, on either side.
const exportFormat = "podidentity-export"

type exportHeader struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	ExportedAt string `json:"exportedAt"`
}

type exportedAssociation struct {
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

func toExported(a *pi.Association) exportedAssociation {
	return exportedAssociation{
		ClusterName: a.ClusterName, AssociationID: a.AssociationID, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount,
		RoleARN: a.RoleARN, TargetRoleARN: a.TargetRoleARN, ExternalID: a.ExternalID, DisableSessionTags: a.DisableSessionTags,
		Policy: a.Policy, OwnerARN: a.OwnerARN, Tags: a.Tags, CreatedAt: a.CreatedAt.UTC(), ModifiedAt: a.ModifiedAt.UTC(),
	}
}

func (e exportedAssociation) association() (*pi.Association, error) {
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

// runExport writes every association, resource tag and setting of a store
// as JSON, for backups and for moving between databases.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStorageFlags(fs)
	output := fs.String("output", "", "write to this file (mode 0600) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "podidentity export: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	store, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity export: %v\n", err)
		return 1
	}
	defer store.Close()
	out := stdout
	var file *os.File
	if *output != "" {
		// The export holds the store's settings, among them a generated
		// sealing key when none is configured: keep it private.
		if file, err = os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			fmt.Fprintf(stderr, "podidentity export: %v\n", err)
			return 1
		}
		out = file
	}
	n, err := export(ctx, store, out, time.Now())
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "podidentity export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "exported %d associations\n", n)
	return 0
}

func export(ctx context.Context, store *sqlstore.DB, w io.Writer, now time.Time) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	head, _ := json.Marshal(exportHeader{Format: exportFormat, Version: 1, ExportedAt: now.UTC().Format(time.RFC3339)})
	bw.Write(head[:len(head)-1]) // leave the object open
	bw.WriteString(`,"associations":[`)
	n := 0
	err := store.EachAssociation(ctx, func(a *pi.Association) error {
		b, err := json.Marshal(toExported(a))
		if err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.Write(b)
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	tags, err := store.ResourceTags(ctx)
	if err != nil {
		return n, err
	}
	settings, err := store.Settings(ctx)
	if err != nil {
		return n, err
	}
	tb, _ := json.Marshal(tags)
	sb, _ := json.Marshal(settings)
	fmt.Fprintf(bw, "\n],\n\"resourceTags\":%s,\n\"settings\":%s}\n", tb, sb)
	return n, bw.Flush()
}

// runImport loads an export into a store, in one transaction: all of it or
// nothing. Associations already present and identical are skipped, so an
// interrupted import can be run again.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStorageFlags(fs)
	input := fs.String("input", "", "read from this file instead of stdin")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "podidentity import: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var in io.Reader = os.Stdin
	if *input != "" {
		f, err := os.Open(*input)
		if err != nil {
			fmt.Fprintf(stderr, "podidentity import: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	store, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity import: %v\n", err)
		return 1
	}
	defer store.Close()
	stats, err := importJSON(ctx, store, in)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity import: %v (nothing was imported)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "imported %d associations (%d already present), %d tags, %d settings\n",
		stats.Inserted, stats.Skipped, stats.Tags, stats.Settings)
	warnSettings(stderr, stats)
	return 0
}

func importJSON(ctx context.Context, store *sqlstore.DB, r io.Reader) (sqlstore.LoadStats, error) {
	l, err := store.NewLoader(ctx)
	if err != nil {
		return sqlstore.LoadStats{}, err
	}
	defer l.Rollback()
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{'); err != nil {
		return sqlstore.LoadStats{}, err
	}
	var head exportHeader
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return sqlstore.LoadStats{}, fmt.Errorf("reading the export: %w", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return sqlstore.LoadStats{}, fmt.Errorf("the export has %q twice", key)
		}
		seen[key] = true
		switch key {
		case "format":
			err = dec.Decode(&head.Format)
		case "version":
			err = dec.Decode(&head.Version)
		case "exportedAt":
			err = dec.Decode(&head.ExportedAt)
		case "associations":
			err = decodeAssociations(dec, l)
		case "resourceTags":
			var tags map[string]map[string]string
			if err = dec.Decode(&tags); err == nil {
				for _, res := range slices.Sorted(maps.Keys(tags)) {
					if err = l.ResourceTags(res, tags[res]); err != nil {
						break
					}
				}
			}
		case "settings":
			var settings map[string]string
			if err = dec.Decode(&settings); err == nil {
				for _, k := range slices.Sorted(maps.Keys(settings)) {
					if _, err = l.Setting(k, settings[k]); err != nil {
						break
					}
				}
			}
		default:
			return sqlstore.LoadStats{}, fmt.Errorf("the export has an unknown key %q", key)
		}
		if err != nil {
			return sqlstore.LoadStats{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return sqlstore.LoadStats{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return sqlstore.LoadStats{}, errors.New("the export has data after its closing brace")
	}
	// Checked last, with nothing committed yet: the header may come in any
	// position.
	if head.Format != exportFormat || head.Version != 1 {
		return sqlstore.LoadStats{}, fmt.Errorf("not a podidentity export (format %q, version %d; want %q, 1)", head.Format, head.Version, exportFormat)
	}
	return l.Commit()
}

func decodeAssociations(dec *json.Decoder, l *sqlstore.Loader) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		var e exportedAssociation
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		a, err := e.association()
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if err := l.Association(a); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("reading the export: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("reading the export: found %v where %q belongs", tok, want)
	}
	return nil
}

// warnSettings tells the operator which settings the target kept instead
// of the source's: for the generated sealing key, credentials the source's
// servers issued will not verify on the target's.
func warnSettings(w io.Writer, stats sqlstore.LoadStats) {
	for _, k := range stats.SettingsDiffer {
		fmt.Fprintf(w, "warning: the target already had setting %q with another value and keeps it\n", k)
		if k == generatedKeySetting {
			fmt.Fprintln(w, "warning: credentials sealed with the source's generated key will not verify against the target; configure credentials.sealingKeys to carry keys across")
		}
	}
}
