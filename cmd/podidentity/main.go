// Command podidentity is a self-hosted, wire-compatible Amazon EKS Pod
// Identity: server, node agent and admission webhook in one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/podidentity/podidentity/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
