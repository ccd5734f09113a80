package cli

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// buildVCS is the commit a binary was built from and whether its tree had
// changes, as `go build` and `go install` record them (vcs.revision,
// vcs.modified); empty when the build recorded none (-buildvcs=false, or no
// repository, as in the image's build).
func buildVCS() (revision string, modified bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, modified
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, and the commit it was built from",
		Long: `Print the version, and the commit it was built from and whether that tree
had uncommitted changes, as the Go toolchain recorded them in the binary.`,
		Example: "  podidentity version",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			writeVersion(stdout)
			return nil
		},
	}
}

func writeVersion(w io.Writer) { fmt.Fprintf(w, "podidentity %s\n", versionText()) }

// versionText is the version, then the commit lines when the build has
// them; `version` and `--version` print the same.
func versionText() string {
	s := version()
	if rev, modified := buildVCS(); rev != "" {
		s += fmt.Sprintf("\ncommit: %s\nmodified: %t", rev, modified)
	}
	return s
}
