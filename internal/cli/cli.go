// Package cli implements the podidentity command line: one binary, several
// subcommands. Run takes its arguments and output streams explicitly so
// that tests drive it exactly as a user would.
package cli

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

const usage = `podidentity: a self-hosted, wire-compatible Amazon EKS Pod Identity.

Usage:
  podidentity server [--config FILE | --dev] [--listen ADDR]
  podidentity token --service-account SA [--cluster demo] [--namespace NS] [--pod-name P] [--ttl 1h]
                    [--endpoint URL | --key FILE --issuer URL] [--output FILE]
  podidentity webhook --tls-cert-file F --tls-key-file F --endpoint URL --cluster-name NAME [--port 9443] [--fail-closed]
  podidentity agent --cluster-name NAME [--endpoint URL] [--port 80] [--bind-hosts 169.254.170.23,fd00:ec2::23]
  podidentity agent initialize [--bind-hosts 169.254.170.23,fd00:ec2::23] [--remove]
  podidentity doctor --namespace NS (--pod NAME | --service-account SA) [--endpoint URL] [--output text|json]
  podidentity migrate --from sqlite:///path.db --to postgres://user@host:5432/db
  podidentity export (--storage URL | --config FILE) [--output FILE]    JSON backup, to stdout by default
  podidentity import (--storage URL | --config FILE) [--input FILE]     from stdin by default
  podidentity version

Run "podidentity COMMAND --help" for a command's flags.
`

// Run executes the command in args (without the program name) and returns
// the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "webhook":
		return runWebhook(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "podidentity", version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "podidentity: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
