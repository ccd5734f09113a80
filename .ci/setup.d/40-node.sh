# Sourced by .ci/run. Installs what test/node needs to run a real Kubernetes
# node here, besides the Kubernetes binaries 30-kube.sh builds: containerd,
# runc and the CNI plugins (Debian's), iptables for kube-proxy and iproute2;
# and podman, which test/e2e loads make image's tarball with.
# Nothing is started: the test starts its node and stops it again
# (hack/node-up.sh, hack/node-down.sh).
_need=()
command -v containerd >/dev/null 2>&1 || _need+=(containerd)
command -v runc >/dev/null 2>&1 || _need+=(runc)
[ -x /usr/lib/cni/bridge ] || _need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || _need+=(iptables)
command -v ip >/dev/null 2>&1 || _need+=(iproute2)
command -v openssl >/dev/null 2>&1 || _need+=(openssl)
# A second image loader for test/e2e's check of make image's tarball.
command -v podman >/dev/null 2>&1 || _need+=(podman)
if [ ${#_need[@]} -gt 0 ]; then
  echo "installing ${_need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${_need[@]}" >/dev/null
fi
echo "node tools ready: $(containerd --version | cut -d' ' -f3) runc $(runc --version | sed -n 's/^runc version //p')"
unset _need
