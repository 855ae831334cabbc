#!/usr/bin/env bash
# scale bench (DESIGN.md section 7): 10,000 ImageDeliveries in the API; the controller's peak
# RSS after its initial list (all caches synced, /readyz 200) and again after it has worked on
# them for a while. Bars (issue 17): 10,000 idle objects <= 64 MiB; 100,000 <= 256 MiB with the
# initial list in <= 30 s. Anchor: kubectl (client-go's pager, 500 per page; the controller
# pages by 250) reading the same list, timed right after.
#
# usage: hack/bench/scale.sh [COUNT]     (default 10000)
# env:   BUILD_DIR (default build-bench, release build), SEALIFT_BIN (skip the build)
set -euo pipefail
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
COUNT=${1:-10000}
bench_sealift
work=$(mktemp -d -t sealift-scale-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; stop_cluster "$work/cluster"; rm -rf "$work"; }
trap cleanup EXIT

echo "starting kube-apiserver + etcd (hack/cluster.sh)"
start_cluster "$work/cluster"
export KUBECONFIG=$KUBECONFIG_ADMIN
kubectl create namespace scale >/dev/null

echo "creating $COUNT ImageDeliveries..."
/usr/bin/python3 - "$work/cluster" "$COUNT" <<'PY'
import json, os, re, ssl, sys, urllib.request, concurrent.futures
d = sys.argv[1]
server = re.search(r"server: (\S+)", open(os.path.join(d, "kubeconfig")).read()).group(1)
ctx = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.crt"))
ctx.load_cert_chain(os.path.join(d, "pki", "admin.crt"), os.path.join(d, "pki", "admin.key"))
count = int(sys.argv[2])
url = f"{server}/apis/sealift.dev/v1beta1/namespaces/scale/imagedeliveries"
def create(i):
    body = {"apiVersion": "sealift.dev/v1beta1", "kind": "ImageDelivery",
            "metadata": {"name": f"app-{i:05d}", "namespace": "scale",
                         "labels": {"team": f"t{i % 50}"}},
            "spec": {"source": {"image": f"registry.vendor.example/acme/app-{i}",
                                "tags": ["1.4.0", "1.4.1"]},
                     "targets": [{"image": f"registry.customer.example/mirror/app-{i}"},
                                 {"image": f"registry.customer2.example/mirror/app-{i}"}],
                     "interval": "10m", "suspend": True}}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=60, context=ctx).read()
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    list(ex.map(create, range(count)))
PY

"$SEALIFT" controller --kubeconfig "$KUBECONFIG_SEALIFT" --namespace sealift-system \
  --metrics-addr 127.0.0.1:0 >"$work/controller.log" 2>&1 &
ctl=$!
pids+=("$ctl")
addr=""
for _ in $(seq 1 200); do
  addr=$(grep -o '"metricsAddr":"[^"]*"' "$work/controller.log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$addr" ] && break
  sleep 0.1
done
start=$(date +%s.%N)
until curl -fs "http://$addr/readyz" >/dev/null 2>&1; do sleep 0.1; done
synced=$(date +%s.%N)
hwm_synced=$(awk '/VmHWM/ {print $2}' "/proc/$ctl/status")
sleep 10
hwm_later=$(awk '/VmHWM/ {print $2}' "/proc/$ctl/status")
rss_later=$(awk '/VmRSS/ {print $2}' "/proc/$ctl/status")
printf 'initial list of %d ImageDeliveries: %.1f s\n' "$COUNT" "$(echo "$synced - $start" | bc)"
printf 'peak RSS after the initial list: %.1f MiB\n' "$(echo "$hwm_synced / 1024" | bc -l)"
printf 'peak RSS 10 s later: %.1f MiB (current %.1f MiB)\n' "$(echo "$hwm_later / 1024" | bc -l)" \
  "$(echo "$rss_later / 1024" | bc -l)"
peer_start=$(date +%s.%N)
kubectl get imagedeliveries -n scale --chunk-size=500 -o name >/dev/null
peer_end=$(date +%s.%N)
printf 'kubectl get (chunks of 500) of the same list: %.1f s; ratio %.2fx\n' \
  "$(echo "$peer_end - $peer_start" | bc)" \
  "$(echo "($synced - $start) / ($peer_end - $peer_start)" | bc -l)"
if [ "$COUNT" -le 10000 ]; then
  printf 'bar: <= 64 MiB -> %s\n' "$([ "$hwm_later" -le 65536 ] && echo met || echo NOT met)"
else
  list_ok=$(echo "$synced - $start <= 30" | bc)
  printf 'bars: <= 256 MiB -> %s; initial list <= 30 s -> %s\n' \
    "$([ "$hwm_later" -le 262144 ] && echo met || echo NOT met)" \
    "$([ "$list_ok" = 1 ] && echo met || echo NOT met)"
fi
