#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine, from
# nothing, for test/node and for trying the chart by hand: containerd and
# runc (Debian's), etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy and a kubelet (built by hack/kube-build.sh).
#
#   hack/node-up.sh DIR [IMAGE.tar ...]   start; DIR (new or empty) holds state and logs;
#                                        each image tarball is imported into containerd
#   hack/node-down.sh DIR                 stop it and undo every change to the machine
#
# The node's address is 10.217.0.1 on a bridge kbr0 created here; pods get
# 10.217.0.0/24 on it with a route to the node (no NAT: pods reach the node
# and each other, nothing else). Services are 10.96.0.0/24 (kube-proxy,
# iptables mode); there is no cluster DNS, so pods use Service addresses.
# The service-account issuer is https://kubernetes.default.svc.cluster.local,
# kubeadm's, so the chart's defaults apply. One node at a time per machine:
# the bridge, its address and the kubelet's port are fixed.
#
# Everything it changes is recorded in DIR and undone by node-down.sh:
# processes (by PID), the bridge, iptables chains (kube-proxy --cleanup and
# any KUBE-* chain left), sysctls (saved here, restored there), mounts under
# DIR, and the cgroups the kubelet made. On success DIR/env holds
# KUBECONFIG=... and CONTAINERD_ADDRESS=....
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 DIR [IMAGE.tar ...]" >&2; exit 2; }
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/kube-build.sh" --print-env | sed 's/^export \([A-Z_]*\)=\(.*\)$/: "${\1:=\2}"/')"
for b in "$KUBE_APISERVER" "$ETCD" "$KUBECTL" "$KUBELET" "$KUBE_CONTROLLER_MANAGER" "$KUBE_SCHEDULER" "$KUBE_PROXY"; do
  [ -x "$b" ] || { echo "node-up: $b is missing; run hack/kube-build.sh" >&2; exit 3; }
done
for tool in containerd runc ctr ip iptables openssl go; do
  command -v "$tool" >/dev/null || { echo "node-up: $tool is required (apt-get install containerd runc containernetworking-plugins iproute2 iptables openssl)" >&2; exit 3; }
done
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
  { echo "node-up: CNI plugins missing in /usr/lib/cni (apt-get install containernetworking-plugins)" >&2; exit 3; }
[ "$(id -u)" = 0 ] || { echo "node-up: a kubelet needs root" >&2; exit 3; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -z "$(ls -A "$dir")" ] || { echo "node-up: $dir is not empty" >&2; exit 2; }

node=podidentity-node
node_ip=10.217.0.1
pod_cidr=10.217.0.0/24
service_cidr=10.96.0.0/24
issuer=https://kubernetes.default.svc.cluster.local
export NO_PROXY="127.0.0.1,localhost,$node_ip,10.217.0.0/24,10.96.0.0/24${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

# One node per machine: the lock is held by node-down's caller through
# DIR/lock's existence; a second node-up waits for nothing and fails.
if ip link show kbr0 >/dev/null 2>&1; then
  echo "node-up: bridge kbr0 exists: another test node runs here (hack/node-down.sh its DIR)" >&2
  exit 2
fi

cleanup_on_failure() {
  echo "node-up: failed; logs in $dir" >&2
  for log in "$dir"/*.log; do
    [ -f "$log" ] || continue
    echo "--- tail of $log" >&2
    tail -n 15 "$log" >&2
  done
  "$here/node-down.sh" "$dir" || true
}
trap cleanup_on_failure ERR

# --- What this changes on the machine, saved first so node-down can undo it.
# The kubelet sets the first three; forwarding is for Service traffic
# between pods.
for key in vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward; do
  echo "$key=$(sysctl -n "$key")" >>"$dir/sysctls"
done
# Paths the kubelet, CNI and containerd write whatever their settings, and
# the agent's key cache (the chart's agent.keysHostPath).
for path in /var/lib/kubelet /var/lib/cni /var/log/containers /run/containerd /var/lib/podidentity-agent; do
  [ -e "$path" ] || echo "$path" >>"$dir/created-paths"
done
# The agent's addresses, if this machine already has them, stay at the end.
if ip addr show | grep -q ' 169\.254\.170\.23/'; then
  touch "$dir/keep-link-local"
fi
touch "$dir/up"

ip link add kbr0 type bridge
ip addr add "$node_ip/24" dev kbr0
ip link set kbr0 up
# Service addresses have no interface; this route lets the node's own
# processes (the API server calling a webhook) reach them, DNAT does the rest.
ip route add "$service_cidr" dev kbr0 src "$node_ip"
sysctl -qw net.ipv4.ip_forward=1

# --- PKI: one CA for everything; client certificates name who is who.
pki=$dir/pki
mkdir -p "$pki"
cert() { # name subject [ext]
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  printf '%s\n' "${3:-extendedKeyUsage=clientAuth}" >"$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=podidentity-node-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
cert apiserver "/CN=kube-apiserver" "$(printf '%s\n%s' \
  "subjectAltName=IP:$node_ip,IP:10.96.0.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
  "extendedKeyUsage=serverAuth")"
cert admin "/O=system:masters/CN=admin"
cert kubelet "/O=system:nodes/CN=system:node:$node"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
chmod 600 "$pki"/*.key

kubeconfig() { # file user
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: podidentity-node
    cluster: {server: "https://$node_ip:6443", certificate-authority: "$pki/ca.crt"}
users:
  - name: $2
    user: {client-certificate: "$pki/$2.crt", client-key: "$pki/$2.key"}
contexts:
  - name: podidentity-node
    context: {cluster: podidentity-node, user: $2}
current-context: podidentity-node
EOF
  chmod 600 "$1"
}
kubeconfig "$dir/kubeconfig" admin
kubeconfig "$dir/kubelet.kubeconfig" kubelet

start() { # name command...
  local name=$1
  shift
  "$@" </dev/null >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}
wait_for() { # what seconds pidname command...
  local what=$1 limit=$2 pidname=$3 t0=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$dir/$pidname.pid")" 2>/dev/null || { echo "node-up: $pidname exited" >&2; false; }
    [ $((SECONDS - t0)) -lt "$limit" ] || { echo "node-up: $what not ready after $limit s" >&2; false; }
    sleep 0.2
  done
}

# --- containerd, with the CRI settings these machines need (REAL-NODE.md):
# runc cannot set a negative OOM score without CAP_SYS_RESOURCE, so
# restrict_oom_score_adj; no AppArmor; namespaces and state under DIR.
mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam"
cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "podidentity.test/pause:1"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
cat >"$dir/cni/net.d/10-podidentity.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "podidentity-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "kbr0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$dir/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
start containerd containerd --config "$dir/containerd/config.toml"
sock=$dir/containerd/containerd.sock
wait_for containerd 30 containerd ctr -a "$sock" version

# --- Images: the pod sandbox, built here like the podidentity image, then
# every tarball given.
(cd "$here/.." && CGO_ENABLED=0 go build -trimpath -o "$dir/pause" ./test/node/pause &&
  go run ./hack/image --binary "$dir/pause" --binary-path /pause --arch "$(go env GOARCH)" \
    --user 65535:65535 --ref podidentity.test/pause:1 --out "$dir/pause.tar")
for image in "$dir/pause.tar" "$@"; do
  ctr -a "$sock" -n k8s.io images import --no-unpack=false "$image" >>"$dir/images.log"
done

# --- etcd and the API server.
start etcd "$ETCD" --name "$node" --data-dir "$dir/etcd" \
  --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster "$node=http://127.0.0.1:12380" --unsafe-no-fsync --log-level warn
wait_for etcd 30 etcd bash -c 'exec 3<>/dev/tcp/127.0.0.1/12379'

start kube-apiserver "$KUBE_APISERVER" \
  --etcd-servers http://127.0.0.1:12379 \
  --bind-address "$node_ip" --advertise-address "$node_ip" --secure-port 6443 \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --service-account-issuer "$issuer" \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range "$service_cidr" \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NodeRestriction \
  --allow-privileged=true \
  --enable-priority-and-fairness=false \
  --profiling=false
kubectl() { "$KUBECTL" --kubeconfig "$dir/kubeconfig" "$@"; }
wait_for kube-apiserver 90 kube-apiserver kubectl get --raw /readyz

# --- The control loops: DaemonSets, Deployments, service accounts,
# kube-root-ca.crt (controller manager); placement (scheduler); Services
# (kube-proxy).
start kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
  --kubeconfig "$dir/kubeconfig" --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port 10257 \
  --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
  --use-service-account-credentials=false --controllers '*,-nodeipam'
start kube-scheduler "$KUBE_SCHEDULER" \
  --kubeconfig "$dir/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259

cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$dir/kubeconfig"}
hostnameOverride: $node
bindAddress: $node_ip
mode: iptables
clusterCIDR: $pod_cidr
# Service traffic between pods of one bridge must come back through the
# node to be un-NATed: masquerade it all.
iptables: {masqueradeAll: true, localhostNodePorts: false}
# Leave the machine's conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: ["$node_ip/32"]
EOF
start kube-proxy "$KUBE_PROXY" --config "$dir/kube-proxy.yaml"

# --- The kubelet. It writes under --root-dir and podLogsDir (both in DIR);
# it would also make iptables chains of its own: not needed here.
mkdir -p "$dir/kubelet"
cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509: {clientCAFile: "$pki/ca.crt"}
  webhook: {enabled: true}
  anonymous: {enabled: false}
authorization: {mode: Webhook}
address: $node_ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
podLogsDir: $dir/kubelet/pod-logs
clusterDomain: cluster.local
makeIPTablesUtilChains: false
serializeImagePulls: false
# A nearly full disk must not evict the test's pods.
evictionHard: {memory.available: 50Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
start kubelet "$KUBELET" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
  --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" \
  --node-ip "$node_ip" --hostname-override "$node" --v 1

wait_for "node $node" 60 kubelet kubectl wait --for=condition=Ready "node/$node" --timeout=1s
wait_for "the default service account" 60 kube-controller-manager kubectl -n default get serviceaccount default

cat >"$dir/env" <<EOF
KUBECONFIG=$dir/kubeconfig
CONTAINERD_ADDRESS=$sock
NODE_NAME=$node
NODE_IP=$node_ip
EOF
trap - ERR
echo "node-up: node $node ready; state in $dir" >&2
