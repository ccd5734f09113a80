#!/usr/bin/env bash
# Builds the Kubernetes tools the integration tests and the chart checks need,
# from the Go module proxy, into a cache outside the repository:
#
#   kube-apiserver, kubectl,  k8s.io/kubernetes at KUBE_VERSION
#   kubelet, kube-controller-manager, kube-scheduler (the real node in test/node)
#   etcd                     go.etcd.io/etcd/server/v3 at ETCD_VERSION
#   helm                     helm.sh/helm/v3/cmd/helm at HELM_VERSION
#   helm-docs                github.com/norwoodj/helm-docs at HELM_DOCS_VERSION (the chart's README)
#
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.x` cannot work: the
# kubernetes go.mod points every k8s.io staging module at ./staging/src. So we
# generate a throwaway module that requires k8s.io/kubernetes and replaces each
# of those staging modules by its published v0.<minor>.<patch> version.
#
# Binaries land in $PODIDENTITY_KUBE_CACHE/<tool>-<version>/ and are reused
# when present: a cold build takes a few minutes, a warm run a few seconds.
# Prints nothing but progress on stderr; `kube-build.sh --print-env` prints
# export lines for the tests (KUBE_APISERVER, ETCD, KUBECTL, HELM).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_DOCS_VERSION="${HELM_DOCS_VERSION:-v1.14.2}"
CACHE="${PODIDENTITY_KUBE_CACHE:-$HOME/.cache/podidentity-kube}"
KUBE_TOOLS="kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler kube-proxy"

kube_dir="$CACHE/kube-$KUBE_VERSION"
etcd_dir="$CACHE/etcd-$ETCD_VERSION"
helm_dir="$CACHE/helm-$HELM_VERSION"
helm_docs_dir="$CACHE/helm-docs-$HELM_DOCS_VERSION"

print_env() {
  echo "export KUBE_APISERVER=$kube_dir/bin/kube-apiserver"
  echo "export KUBECTL=$kube_dir/bin/kubectl"
  echo "export KUBELET=$kube_dir/bin/kubelet"
  echo "export KUBE_CONTROLLER_MANAGER=$kube_dir/bin/kube-controller-manager"
  echo "export KUBE_SCHEDULER=$kube_dir/bin/kube-scheduler"
  echo "export KUBE_PROXY=$kube_dir/bin/kube-proxy"
  echo "export ETCD=$etcd_dir/bin/etcd"
  echo "export HELM=$helm_dir/bin/helm"
  echo "export HELM_DOCS=$helm_docs_dir/bin/helm-docs"
}

log() { echo "kube-build: $*" >&2; }

# Builds go outside any workspace or vendoring the caller may have set up.
export GOWORK=off GOFLAGS="-buildvcs=false" CGO_ENABLED=0

build_kube() {
  local tool missing=0
  for tool in $KUBE_TOOLS; do
    [ -x "$kube_dir/bin/$tool" ] || missing=1
  done
  if [ "$missing" = 0 ]; then
    log "$KUBE_TOOLS $KUBE_VERSION cached in $kube_dir/bin"
    return
  fi
  local staging="v0.${KUBE_VERSION#v1.}"
  local mod="$kube_dir/src"
  rm -rf "$mod" && mkdir -p "$mod"
  log "building $KUBE_TOOLS $KUBE_VERSION (staging modules $staging) in $mod"

  local gomod
  gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }

  (
    cd "$mod"
    go mod init podidentity.local/kubebuild >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
    # kubernetes' own godebug default applies only when it is the main module.
    if godebug=$(sed -n 's/^godebug[[:space:]]\{1,\}\(.*\)$/\1/p' "$gomod") && [ -n "$godebug" ]; then
      go mod edit -godebug="$godebug"
    fi
    local n=0 m
    # Both forms: inside a replace ( ... ) block and one-line replace directives.
    for m in $(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' "$gomod"); do
      go mod edit -replace="$m=$m@$staging"
      n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { log "no staging replaces found in $gomod"; exit 1; }
    log "replaced $n staging modules"
    local pkg=k8s.io/component-base/version minor
    minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    local pkgs=()
    for tool in $KUBE_TOOLS; do pkgs+=("k8s.io/kubernetes/cmd/$tool"); done
    # One build for all: the packages they share compile once.
    go build -mod=mod -trimpath -ldflags "$ldflags" -o "$kube_dir/bin.tmp/" "${pkgs[@]}"
  )
  rm -rf "$kube_dir/bin" && mv "$kube_dir/bin.tmp" "$kube_dir/bin"
}

build_etcd() {
  if [ -x "$etcd_dir/bin/etcd" ]; then
    log "etcd $ETCD_VERSION cached in $etcd_dir/bin"
    return
  fi
  # etcd's server module, like kubernetes, replaces its sibling modules with
  # local paths, so it too is built from a throwaway module.
  local mod="$etcd_dir/src"
  rm -rf "$mod" && mkdir -p "$mod"
  log "building etcd $ETCD_VERSION in $mod"
  (
    cd "$mod"
    go mod init podidentity.local/etcdbuild >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go build -mod=mod -trimpath -ldflags "-s -w" -o "$etcd_dir/bin.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$etcd_dir/bin" && mv "$etcd_dir/bin.tmp" "$etcd_dir/bin"
}

# go_install DIR NAME PACKAGE@VERSION: a tool whose module builds with a
# plain `go install`, into DIR/bin.
go_install() {
  local dir=$1 name=$2 pkg=$3
  if [ -x "$dir/bin/$name" ]; then
    log "$name ${pkg##*@} cached in $dir/bin"
    return
  fi
  log "building $name ${pkg##*@}"
  mkdir -p "$dir"
  GOBIN="$dir/bin.tmp" go install -trimpath -ldflags "-s -w" "$pkg"
  rm -rf "$dir/bin" && mv "$dir/bin.tmp" "$dir/bin"
}

if [ "${1:-}" = "--print-env" ]; then
  print_env
  exit 0
fi

mkdir -p "$CACHE"
# CI and developers may build at once on one machine: one build at a time.
exec 9>"$CACHE/.lock"
flock 9
start=$SECONDS
# One after the other: each build uses every core on its own.
build_kube
build_etcd
go_install "$helm_dir" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
go_install "$helm_docs_dir" helm-docs "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION"
log "done in $((SECONDS - start)) s; binaries in $CACHE"
