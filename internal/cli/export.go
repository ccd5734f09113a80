package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podidentity/podidentity/internal/backup"
	"github.com/podidentity/podidentity/internal/config"
	"github.com/podidentity/podidentity/internal/credentials/local"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// storeOptions turns the configuration's storageOptions into the store's,
// reading the password from its file or environment variable.
func storeOptions(o config.StorageOptions) (sqlstore.Options, error) {
	password, err := o.Password()
	return sqlstore.Options{MaxConns: o.MaxConns, MinConns: o.MinConns, Password: password}, err
}

// storageFlags are how export and import name their store: a URL, or the
// server's configuration file (its storage and storageOptions).
type storageFlags struct {
	storage, config string
}

func (f *storageFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.storage, "storage", "", "storage URL: sqlite:///path.db or postgres://user@host/db (password from PGPASSWORD or ~/.pgpass); this or --config")
	fs.StringVar(&f.config, "config", "", "take storage and storageOptions from this server configuration file instead")
}

func (f storageFlags) validate() error {
	switch {
	case (f.storage == "") == (f.config == ""):
		return errors.New("give exactly one of --storage or --config")
	case f.storage == "memory":
		return errors.New("--storage memory holds nothing outside a running server")
	}
	return nil
}

// open opens the named store; existing refuses to create a SQLite file,
// for a command that reads the store.
func (f storageFlags) open(ctx context.Context, existing bool) (*sqlstore.DB, error) {
	if f.storage != "" {
		return sqlstore.OpenOptions(ctx, f.storage, sqlstore.Options{Existing: existing})
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, err
	}
	opts, err := storeOptions(cfg.StorageOptions)
	if err != nil {
		return nil, err
	}
	opts.Existing = existing
	return sqlstore.OpenOptions(ctx, cfg.Storage, opts)
}

func newExportCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		sf     storageFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a store's associations, tags and settings as a JSON backup",
		Long: `Write every association, resource tag and setting of a store as one JSON
document, to stdout or a file (mode 0600: it holds the generated sealing key
when none is configured). "podidentity import" reads it back.`,
		Example: `  podidentity export --config /etc/podidentity/podidentity.yaml --output backup.json
  podidentity export --storage sqlite:///var/lib/podidentity/podidentity.db > backup.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runExport(cmd.Context(), sf, output, stdout, stderr))
		},
	}
	sf.add(cmd.Flags())
	cmd.Flags().StringVar(&output, "output", "", "write to this file (mode 0600) instead of stdout")
	return cmd
}

func runExport(ctx context.Context, sf storageFlags, output string, stdout, stderr io.Writer) int {
	if err := sf.validate(); err != nil {
		fmt.Fprintf(stderr, "podidentity export: %v\n", err)
		return 2
	}
	store, err := sf.open(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity export: %v\n", err)
		return 1
	}
	defer store.Close()
	out := stdout
	var file *os.File
	if output != "" {
		// The export holds the store's settings, among them a generated
		// sealing key when none is configured: keep it private.
		if file, err = os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			fmt.Fprintf(stderr, "podidentity export: %v\n", err)
			return 1
		}
		out = file
	}
	n, err := backup.Write(ctx, store, out, time.Now())
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

func newImportCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		sf    storageFlags
		input string
	)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Load a JSON backup into a store, all of it or nothing",
		Long: `Load a document written by "podidentity export" into a store, in one
transaction: all of it or nothing. Associations already present and
identical are skipped, so an interrupted import can be run again.`,
		Example: `  podidentity import --config /etc/podidentity/podidentity.yaml --input backup.json
  podidentity import --storage postgres://podidentity@db:5432/podidentity < backup.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runImport(cmd.Context(), sf, input, stdout, stderr))
		},
	}
	sf.add(cmd.Flags())
	cmd.Flags().StringVar(&input, "input", "", "read from this file instead of stdin")
	return cmd
}

func runImport(ctx context.Context, sf storageFlags, input string, stdout, stderr io.Writer) int {
	if err := sf.validate(); err != nil {
		fmt.Fprintf(stderr, "podidentity import: %v\n", err)
		return 2
	}
	var in io.Reader = os.Stdin
	if input != "" {
		f, err := os.Open(input)
		if err != nil {
			fmt.Fprintf(stderr, "podidentity import: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	store, err := sf.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity import: %v\n", err)
		return 1
	}
	defer store.Close()
	stats, err := importBackup(ctx, store, in)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity import: %v (nothing was imported)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "imported %d associations (%d already present), %d tags, %d settings\n",
		stats.Inserted, stats.Skipped, stats.Tags, stats.Settings)
	warnSettings(stderr, stats)
	return 0
}

// importBackup reads r into store in one transaction.
func importBackup(ctx context.Context, store *sqlstore.DB, r io.Reader) (sqlstore.LoadStats, error) {
	l, err := store.NewLoader(ctx)
	if err != nil {
		return sqlstore.LoadStats{}, err
	}
	defer l.Rollback()
	if err := backup.Read(r, l); err != nil {
		return sqlstore.LoadStats{}, err
	}
	return l.Commit()
}

// warnSettings tells the operator which settings the target kept instead
// of the source's: for the generated sealing key, credentials the source's
// servers issued will not verify on the target's.
func warnSettings(w io.Writer, stats sqlstore.LoadStats) {
	for _, k := range stats.SettingsDiffer {
		fmt.Fprintf(w, "warning: the target already had setting %q with another value and keeps it\n", k)
		if k == local.GeneratedKeySetting {
			fmt.Fprintln(w, "warning: credentials sealed with the source's generated key will not verify against the target; configure credentials.sealingKeys to carry keys across")
		}
	}
}
