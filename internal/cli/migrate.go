package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"

	pi "github.com/podidentity/podidentity/internal/podidentity"
	"github.com/podidentity/podidentity/internal/store/sqlstore"
)

// runMigrate copies a store into another, typically the embedded SQLite
// file into PostgreSQL when moving to several replicas. It streams: source
// pages go into the target's single transaction, so a failure leaves the
// target as it was, and a rerun skips what is already there unchanged.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podidentity migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source storage URL, e.g. sqlite:///var/lib/podidentity/podidentity.db")
	to := fs.String("to", "", "target storage URL, e.g. postgres://podidentity@db:5432/podidentity (password from PGPASSWORD or ~/.pgpass)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "podidentity migrate: --from and --to are required and no arguments are taken")
		return 2
	}
	if *from == *to || *from == "memory" || *to == "memory" {
		fmt.Fprintln(stderr, "podidentity migrate: --from and --to must name two different, persistent stores")
		return 2
	}
	src, err := sqlstore.Open(ctx, *from)
	if err != nil {
		fmt.Fprintf(stderr, "podidentity migrate: source: %v\n", err)
		return 1
	}
	defer src.Close()
	dst, err := sqlstore.Open(ctx, *to)
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
		stats.Inserted, stats.Skipped, stats.Tags, stats.Settings, storageLabel(*from), storageLabel(*to))
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
