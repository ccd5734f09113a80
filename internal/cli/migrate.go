package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

func newMigrateCommand(stdout, stderr io.Writer) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Copy a store into another, e.g. SQLite into PostgreSQL",
		Long: `Copy every association, resource tag and setting of one store into another,
typically the embedded SQLite file into PostgreSQL when moving to several
replicas. The target is written in one transaction: a failure leaves it as it
was, and a rerun skips what is already there unchanged.`,
		Example: `  podidentity migrate --from sqlite:///var/lib/podidentity/podidentity.db --to postgres://podidentity@db:5432/podidentity`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(runMigrate(cmd.Context(), from, to, stdout, stderr))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", required("source storage URL, e.g. sqlite:///var/lib/podidentity/podidentity.db"))
	cmd.Flags().StringVar(&to, "to", "", required("target storage URL, e.g. postgres://podidentity@db:5432/podidentity (password from PGPASSWORD or ~/.pgpass)"))
	return cmd
}

// runMigrate copies a store into another. It streams: source pages go into
// the target's single transaction.
func runMigrate(ctx context.Context, from, to string, stdout, stderr io.Writer) int {
	if from == "" || to == "" {
		fmt.Fprintln(stderr, "podidentity migrate: --from and --to are required")
		return 2
	}
	if from == to || from == "memory" || to == "memory" {
		fmt.Fprintln(stderr, "podidentity migrate: --from and --to must name two different, persistent stores")
		return 2
	}
	src, err := sqlstore.OpenOptions(ctx, from, sqlstore.Options{Existing: true})
	if err != nil {
		fmt.Fprintf(stderr, "podidentity migrate: source: %v\n", err)
		return 1
	}
	defer src.Close()
	dst, err := sqlstore.Open(ctx, to)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity migrate: target: %v\n", err)
		return 1
	}
	defer dst.Close()
	stats, err := copyStore(ctx, src, dst)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity migrate: %v (the target is unchanged)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "migrated %d associations (%d already present), %d tags, %d settings from %s to %s\n",
		stats.Inserted, stats.Skipped, stats.Tags, stats.Settings, storageLabel(from), storageLabel(to))
	warnSettings(stderr, stats)
	return 0
}

// copyStore copies every association, resource tag and setting of src into
// dst in one transaction of dst.
func copyStore(ctx context.Context, src, dst *sqlstore.DB) (sqlstore.LoadStats, error) {
	l, err := dst.NewLoader(ctx)
	if err != nil {
		return sqlstore.LoadStats{}, fmt.Errorf("target: %w", err)
	}
	defer l.Rollback()
	if err := src.EachAssociation(ctx, func(a *pi.Association) error { return l.Association(a) }); err != nil {
		return sqlstore.LoadStats{}, err
	}
	tags, err := src.ResourceTags(ctx)
	if err != nil {
		return sqlstore.LoadStats{}, fmt.Errorf("source: %w", err)
	}
	for _, res := range slices.Sorted(maps.Keys(tags)) {
		if err := l.ResourceTags(res, tags[res]); err != nil {
			return sqlstore.LoadStats{}, fmt.Errorf("target: %w", err)
		}
	}
	settings, err := src.Settings(ctx)
	if err != nil {
		return sqlstore.LoadStats{}, fmt.Errorf("source: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if _, err := l.Setting(k, settings[k]); err != nil {
			return sqlstore.LoadStats{}, fmt.Errorf("target: %w", err)
		}
	}
	return l.Commit()
}
