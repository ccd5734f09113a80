package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// normalizeArgs keeps two spellings the command line accepted before it
// moved to pflag: a single-dash long flag (`-config f`, as Go's flag
// package reads it) and a boolean flag followed by its value as a separate
// word (`--rotate-credentials true`, as the AWS agent's charts pass it).
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	cmd.InitDefaultHelpFlag()
	return normalizeFlags(cmd.Flags(), args)
}

// normalizeFlags rewrites args for the flags of fs; see normalizeArgs.
func normalizeFlags(fs *pflag.FlagSet, args []string) []string {
	var bools []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			bools = append(bools, f.Name)
		}
	})
	args = joinBoolValues(args, bools...)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
		// A flag's value is copied as it is, even when it starts with a dash.
		if f := flagNeedingValue(fs, a); f && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

// flagNeedingValue reports whether arg is a flag of fs whose value is the
// next word.
func flagNeedingValue(fs *pflag.FlagSet, arg string) bool {
	var f *pflag.Flag
	switch {
	case strings.Contains(arg, "="):
		return false
	case strings.HasPrefix(arg, "--"):
		f = fs.Lookup(arg[2:])
	case len(arg) == 2 && arg[0] == '-':
		f = fs.ShorthandLookup(arg[1:])
	}
	return f != nil && f.NoOptDefVal == ""
}

// joinBoolValues turns `--name true` into `--name=true` for the boolean
// flags named. The AWS agent's charts pass its flags as key/value pairs
// (`"--rotate-credentials", "true"`); pflag alone would leave the "true"
// over as an argument. Only a value that parses as a boolean is taken.
func joinBoolValues(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		isBool := false
		for _, n := range names {
			isBool = isBool || (name == n && len(a)-len(name) <= 2 && len(a) > len(name))
		}
		if isBool && i+1 < len(args) {
			if _, err := strconv.ParseBool(args[i+1]); err == nil {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}
