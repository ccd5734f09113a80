#!/usr/bin/env bash
# Runs a command with every tool the tests need installed or built and on
# the environment: each .ci/setup.d script installs or starts one
# component's tools (PostgreSQL, a kube-apiserver, helm, ...) and exports
# what its tests read. The first run on a fresh machine takes minutes
# (apt, and kube-apiserver built from the Go module proxy into
# ~/.cache/podidentity-kube); later runs reuse what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
for setup in .ci/setup.d/*.sh; do
  [ -e "$setup" ] || continue
  echo "== $setup" >&2
  # shellcheck source=/dev/null
  source "$setup"
done
exec "$@"
