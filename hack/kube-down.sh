#!/usr/bin/env bash
# Stops what hack/kube-up.sh DIR started: exactly the processes whose ids it
# recorded in DIR, the API server first, then etcd. DIR itself is kept, for
# the logs.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
for name in kube-apiserver etcd; do
  stop_pidfile "$dir/$name.pid"
done
exit 0
