#!/usr/bin/env bash
# Writes deploy/helm/podidentity/README.md from values.yaml's "# --" comments
# and README.md.gotmpl, with helm-docs (hack/kube-build.sh builds it;
# $HELM_DOCS overrides). test/kube fails when the README is out of date.
#
#   hack/chart-readme.sh            rewrite the README
#   hack/chart-readme.sh --stdout   print what it would write
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HELM_DOCS:=$(bash hack/kube-build.sh --print-env | sed -n 's/^export HELM_DOCS=//p')}"
[ -x "$HELM_DOCS" ] || { echo "chart-readme: helm-docs ($HELM_DOCS) is missing; run hack/kube-build.sh" >&2; exit 3; }
args=(--chart-search-root deploy/helm/podidentity --log-level warning)
if [ "${1:-}" = "--stdout" ]; then
  args+=(--dry-run)
fi
"$HELM_DOCS" "${args[@]}"
