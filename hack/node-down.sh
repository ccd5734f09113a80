#!/usr/bin/env bash
# Undoes what hack/node-up.sh DIR did, so it can run again and the machine
# is left as it was: stops the pods' containers and every process it
# started (by the PIDs it recorded), removes kube-proxy's iptables rules and
# any KUBE-* chain, the bridge and its routes, unmounts what the kubelet and
# containerd mounted under DIR, removes the kubelet's cgroups and restores
# the sysctls it saved. DIR itself is kept, for the logs; its state is
# removed. Safe to run twice, or on a half-started node.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$(cd "$1" 2>/dev/null && pwd) || exit 0
[ -f "$dir/up" ] || exit 0
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/kube-build.sh" --print-env | sed 's/^export \([A-Z_]*\)=\(.*\)$/: "${\1:=\2}"/')"

# shellcheck source=lib.sh
source "$here/lib.sh"
stop() { stop_pidfile "$dir/$1.pid"; }

# The kubelet first, so that nothing restarts what is stopped next.
stop kubelet
sock=$dir/containerd/containerd.sock
if [ -S "$sock" ] && kill -0 "$(cat "$dir/containerd.pid" 2>/dev/null)" 2>/dev/null; then
  # Every task, then every sandbox: containerd's shims and the pods'
  # processes run outside containerd's own process.
  for c in $(ctr -a "$sock" -n k8s.io tasks list -q 2>/dev/null); do
    ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1
  done
  for _ in $(seq 50); do
    [ -z "$(ctr -a "$sock" -n k8s.io tasks list 2>/dev/null | awk 'NR>1 && $3 != "STOPPED"')" ] && break
    sleep 0.1
  done
  for c in $(ctr -a "$sock" -n k8s.io tasks list -q 2>/dev/null); do
    ctr -a "$sock" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1
  done
fi
for name in kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
  stop "$name"
done
# Shims whose containerd is gone: each names its namespace's state dir.
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $dir/" 2>/dev/null); do
  kill -KILL "$pid" 2>/dev/null
done

# iptables: kube-proxy's own cleanup, then anything named KUBE- that is left.
[ -x "${KUBE_PROXY:-}" ] && "$KUBE_PROXY" --cleanup >/dev/null 2>&1
for table in filter nat mangle; do
  iptables -t "$table" -S 2>/dev/null | grep -E '^-A .* -j KUBE-' | sed 's/^-A/-D/' | while read -r rule; do
    eval "iptables -t $table $rule" 2>/dev/null
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
    iptables -t "$table" -F "$chain" 2>/dev/null
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
    iptables -t "$table" -X "$chain" 2>/dev/null
  done
done

# Mounts under DIR (projected volumes, overlay rootfs, netns), deepest first.
for _ in 1 2 3; do
  mounts=$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  [ -z "$mounts" ] && break
  for m in $mounts; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
done

# Pods' veths go with their network namespaces; the bridge takes its routes.
ip link del kbr0 2>/dev/null
# The agent's addresses, which its init container put on the node (the host
# network): on its dummy interface, or on lo where there are none.
if [ ! -f "$dir/keep-link-local" ]; then
  ip link del pod-id-link0 2>/dev/null
  ip addr del 169.254.170.23/32 dev lo 2>/dev/null
  ip -6 addr del fd00:ec2::23/128 dev lo 2>/dev/null
fi

# The kubelet's cgroups (cgroup v1: one tree per controller), leaves first.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$root" ] || continue
  find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
done

if [ -f "$dir/sysctls" ]; then
  while IFS='=' read -r key value; do
    sysctl -qw "$key=$value"
  done <"$dir/sysctls"
fi
rm -rf "$dir/containerd/root" "$dir/containerd/state" "$dir/kubelet" "$dir/etcd" 2>/dev/null
# The fixed paths that did not exist before node-up; in those that did,
# only the log links into DIR.
if [ -f "$dir/created-paths" ]; then
  while read -r path; do
    rm -rf "$path"
  done <"$dir/created-paths"
fi
find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete 2>/dev/null
rm -f "$dir/up"
exit 0
