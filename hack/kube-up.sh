#!/usr/bin/env bash
# Starts a real etcd and kube-apiserver on 127.0.0.1, for the integration
# tests (test/kube) and for validating the deploy manifests with
# `kubectl apply --dry-run=server`. There is no controller manager, scheduler
# or kubelet: objects are stored, admitted and validated, pods stay Pending.
#
#   hack/kube-up.sh DIR     start; DIR (new or empty) holds all state and logs
#   hack/kube-down.sh DIR   stop exactly the processes started here
#
# Binaries come from $KUBE_APISERVER, $ETCD and $KUBECTL, by default those
# hack/kube-build.sh caches. On success DIR/env holds, as NAME=value lines:
#
#   KUBE_URL            https://127.0.0.1:PORT, also the service-account issuer
#   KUBECONFIG          admin kubeconfig (a static token in group system:masters)
#   KUBE_CA_FILE        the CA of the API server's certificate
#
# Service-account tokens are signed with an RSA key; OIDC discovery and the
# JWKS are readable without authentication, as on EKS, so that the
# podidentity server can fetch them like it would from a real cluster.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/kube-build.sh" --print-env | sed 's/^export \([A-Z_]*\)=\(.*\)$/: "${\1:=\2}"/')"
for b in "$KUBE_APISERVER" "$ETCD" "$KUBECTL"; do
  [ -x "$b" ] || { echo "kube-up: $b is missing; run hack/kube-build.sh" >&2; exit 3; }
done
command -v openssl >/dev/null || { echo "kube-up: openssl is required" >&2; exit 3; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -z "$(ls -A "$dir")" ] || { echo "kube-up: $dir is not empty" >&2; exit 2; }
mkdir -p "$dir/pki" "$dir/etcd"
# Everything local: no proxy may see the API server's or a webhook's traffic.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# A port nothing listens on. Racy in theory; the start fails loudly if lost.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "kube-up: no free port found" >&2
  return 1
}

cleanup_on_failure() {
  echo "kube-up: failed; logs in $dir" >&2
  "$here/kube-down.sh" "$dir" || true
}
trap cleanup_on_failure ERR

# PKI: a CA, the API server's serving certificate for 127.0.0.1, and the
# service-account signing key pair.
pki=$dir/pki
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=podidentity-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$pki/apiserver.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 3 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
admin_token=$(openssl rand -hex 24)
echo "$admin_token,admin,admin,system:masters" >"$pki/tokens.csv"
chmod 600 "$pki"/*.key "$pki/tokens.csv"

etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)
url="https://127.0.0.1:$api_port"

etcd_flags=(
  --name podidentity-test --data-dir "$dir/etcd"
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port"
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port"
  --initial-cluster "podidentity-test=http://127.0.0.1:$peer_port"
  --log-level warn
)
# Test data need not survive a power cut; etcd 3.4 (Debian's) lacks the flag.
if "$ETCD" --help 2>&1 | grep -q -- --unsafe-no-fsync; then
  etcd_flags+=(--unsafe-no-fsync)
fi
"$ETCD" "${etcd_flags[@]}" </dev/null >"$dir/etcd.log" 2>&1 &
echo $! >"$dir/etcd.pid"

for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$etcd_port") 2>/dev/null && break
  kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || { cat "$dir/etcd.log" >&2; false; }
  sleep 0.1
done

# An http:// issuer would silently disable OIDC discovery: the issuer is the
# API server's own https URL. With no controller to reconcile the
# kubernetes Service endpoints on loopback, the reconciler is off.
"$KUBE_APISERVER" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --cert-dir "$pki" \
  --token-auth-file "$pki/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-issuer "$url" \
  --service-account-jwks-uri "$url/openid/v1/jwks" \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/24 \
  --endpoint-reconciler-type none \
  --allow-privileged=true \
  --enable-priority-and-fairness=false \
  --profiling=false \
  </dev/null >"$dir/kube-apiserver.log" 2>&1 &
echo $! >"$dir/kube-apiserver.pid"

cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: podidentity-test
    cluster:
      server: $url
      certificate-authority: $pki/ca.crt
users:
  - name: admin
    user:
      token: $admin_token
contexts:
  - name: podidentity-test
    context: {cluster: podidentity-test, user: admin}
current-context: podidentity-test
EOF
chmod 600 "$dir/kubeconfig"
kubectl() { "$KUBECTL" --kubeconfig "$dir/kubeconfig" "$@"; }

start=$SECONDS
until kubectl get --raw /readyz >/dev/null 2>&1; do
  if ! kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null; then
    tail -n 30 "$dir/kube-apiserver.log" >&2
    false
  fi
  if [ $((SECONDS - start)) -gt 90 ]; then
    echo "kube-up: kube-apiserver not ready after 90 s" >&2
    tail -n 30 "$dir/kube-apiserver.log" >&2
    false
  fi
  sleep 0.2
done

# Discovery is not anonymous unless this group may read it.
kubectl create clusterrolebinding podidentity-test:service-account-issuer-discovery \
  --clusterrole system:service-account-issuer-discovery --group system:unauthenticated >/dev/null

# With KUBE_UP_WATCH_PID set (the tests set their own pid), the cluster is
# stopped when that process ends, even if it is killed before it can.
if [ -n "${KUBE_UP_WATCH_PID:-}" ]; then
  (
    while kill -0 "$KUBE_UP_WATCH_PID" 2>/dev/null && [ -f "$dir/kube-apiserver.pid" ]; do sleep 2; done
    "$here/kube-down.sh" "$dir"
  ) </dev/null >/dev/null 2>&1 &
fi

cat >"$dir/env" <<EOF
KUBE_URL=$url
KUBECONFIG=$dir/kubeconfig
KUBE_CA_FILE=$pki/ca.crt
EOF
trap - ERR
echo "kube-up: kube-apiserver $url ready in $((SECONDS - start)) s; state in $dir" >&2
