// Command pause is the pod sandbox ("pause") image of the test node: it
// holds the pod's namespaces open and exits on SIGTERM or SIGINT, as
// registry.k8s.io/pause does, without a registry to pull that from.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
