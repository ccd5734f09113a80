#!/usr/bin/env bash
# Stops what hack/kube-up.sh DIR started: exactly the processes whose ids it
# recorded in DIR, the API server first, then etcd. DIR itself is kept, for
# the logs.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
for name in kube-apiserver etcd; do
  pidfile=$dir/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
done
exit 0
