#!/usr/bin/env bash
# The main job, from a fresh Debian machine: installs what is missing, builds sealift, starts a
# local environment (the Kubernetes API stand-in), installs the CRDs with kubectl, runs the
# controller on the examples and shows the result with `kubectl get sealift`.
#
#   hack/demo.sh          run the demo, then stop everything it started
#   hack/demo.sh --keep   leave the stand-in and the controller running; prints how to use them
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bash hack/setup.sh
echo "==> building sealift (build/)"
[ -f build/build.ninja ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d -t sealift-demo-XXXXXX)
pids=()
cleanup() {
  if [ "$keep" = 0 ]; then
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "==> starting the Kubernetes API stand-in"
/usr/bin/python3 hack/kube-standin --port 0 --kubeconfig "$work/kubeconfig" \
  >"$work/standin.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done
[ -s "$work/kubeconfig" ] || { echo "stand-in did not start:"; cat "$work/standin.log"; exit 1; }
export KUBECONFIG="$work/kubeconfig"

echo "==> kubectl apply -k crds/"
kubectl apply -k crds/ >/dev/null
kubectl get crd -o name

echo "==> starting sealift controller"
./build/sealift controller --kubeconfig "$KUBECONFIG" --namespace sealift-system \
  --metrics-addr 127.0.0.1:0 >"$work/controller.log" 2>&1 &
pids+=($!)

echo "==> kubectl apply -k examples/basic/"
kubectl apply -k examples/basic/
kubectl wait --for=condition=Ready --timeout=60s -n vendor-acme sigkey --all >/dev/null || {
  echo "objects did not become Ready; controller log:"; tail -20 "$work/controller.log"; exit 1; }

echo
echo "==> kubectl get sealift -A"
kubectl get sealift -A
echo
echo "==> published public key (ConfigMap vendor-release-pub)"
kubectl get configmap -n vendor-acme vendor-release-pub -o jsonpath='{.data.cosign\.pub}'
echo
if [ "$keep" = 1 ]; then
  echo "still running. Use:  export KUBECONFIG=$work/kubeconfig"
  echo "controller log: $work/controller.log; stop with: kill ${pids[*]}"
fi
