# Sourced by .ci/run. Builds, or finds in its cache outside the repository,
# the Kubernetes binaries test/kube needs: kube-apiserver and kubectl
# (k8s.io/kubernetes from the Go module proxy), etcd and helm; then exports
# their paths (KUBE_APISERVER, KUBECTL, ETCD, HELM) so that the tests run
# instead of skipping. Cold (empty Go caches) this takes some minutes; with
# the binaries cached, a fraction of a second. See hack/kube-build.sh.
_kube_start=$SECONDS
bash hack/kube-build.sh
eval "$(bash hack/kube-build.sh --print-env)"
echo "kube tools ready in $((SECONDS - _kube_start)) s: $KUBE_APISERVER $KUBECTL $ETCD $HELM"
unset _kube_start
