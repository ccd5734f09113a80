// Package cli implements the podidentity command line: one binary, several
// subcommands, parsed by cobra and pflag as kubectl, helm and the AWS agent
// are. Run takes its arguments and output streams explicitly so that tests
// drive it exactly as a user would.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Run executes the command in args (without the program name) and returns
// the process exit code: 0 success, 1 failure, 2 a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	if len(args) == 0 {
		root.InitDefaultHelpCmd()
		root.SetOut(stderr)
		root.Usage()
		return 2
	}
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	var status exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		// The command has said what is wrong; a usage error also says
		// where to read how it is used.
		if status == 2 {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return int(status)
	}
	// Anything else comes from cobra itself: an unknown command or flag, a
	// flag value that does not parse, an argument where none belongs.
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), err, cmd.CommandPath())
	return 2
}

// exitStatus carries a subcommand's exit code through cobra. The
// subcommand has already told the user why.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// exit turns a subcommand's exit code into what cobra's RunE returns.
func exit(code int) error {
	if code == 0 {
		return nil
	}
	return exitStatus(code)
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "podidentity",
		Short: "A self-hosted, wire-compatible Amazon EKS Pod Identity",
		Long: `One binary: the server (EKS, EKS Auth and STS APIs), the node agent, the
admission webhook, and the tools around them.`,
		Example: `  podidentity server --dev
  podidentity help token`,
		Version:       versionText(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("podidentity {{.Version}}\n")
	// Every help starts with the command's one-line description, then the
	// longer one (cobra's own shows only the latter).
	root.SetHelpTemplate(`{{.Short}}{{with .Long}}

{{. | trimTrailingWhitespaces}}{{end}}

{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}`)
	root.AddCommand(
		newServerCommand(stdout, stderr),
		newTokenCommand(stdout, stderr),
		newAgentCommand(stdout, stderr),
		newWebhookCommand(stdout, stderr),
		newDoctorCommand(stdout, stderr),
		newMigrateCommand(stdout, stderr),
		newExportCommand(stdout, stderr),
		newImportCommand(stdout, stderr),
		newVersionCommand(stdout),
	)
	// cobra's own help command answers an unknown topic with the root's
	// usage and exit 0; here it is a usage error like any other.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return fmt.Errorf("no help topic %q; 'podidentity --help' lists the commands", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag() // as --help shows them
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
		ValidArgsFunction: completeCommandNames,
	})
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			// Without a shell, cobra's completion prints its help and exits
			// 0; asked wrongly, it is a usage error like any other.
			c.RunE = func(*cobra.Command, []string) error {
				return errors.New("name a shell: bash, zsh, fish or powershell")
			}
		}
	}
	return root
}

// noArgs refuses positional arguments in the words the old command line
// used, which scripts and tests look for.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}

// required marks a flag's usage line; cobra's MarkFlagRequired would
// refuse a missing flag on its own, before the command can report every
// problem at once.
func required(usage string) string { return usage + " (required)" }

// completeCommandNames completes `help`'s arguments with the names of the
// commands below those already given, as cobra's own help command does.
func completeCommandNames(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	cmd, _, err := c.Root().Find(args)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if cmd == nil {
		cmd = c.Root()
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
			names = append(names, sub.Name()+"\t"+sub.Short)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
