// Package node installs podidentity on a real single-node Kubernetes
// cluster brought up from nothing on this machine (hack/node-up.sh:
// containerd, kubelet, kube-proxy, the control plane) and proves the main
// use case end to end: the image from `make image`, `helm install` with the
// values docs/install.md gives (its marked blocks are run as written), pods
// mutated by the webhook through the API server, tokens projected by the
// kubelet, credentials from the agent on 169.254.170.23, and
// GetCallerIdentity answered by the server with the association's role.
//
// It needs root, containerd, runc, the CNI plugins and the Kubernetes
// binaries hack/kube-build.sh builds; without them it skips, or fails when
// PODIDENTITY_REQUIRE_E2E is set (CI). It changes the machine (a bridge,
// iptables rules, sysctls, mounts, the agent's addresses) and undoes all of
// it through hack/node-down.sh.
package node
