#!/bin/sh
# resync bench (DESIGN.md section 7): 100 ImageDeliveries that are already in sync. Measures one
# full controller pass over them (start `sealift controller` after they were delivered and poll
# /metrics until it counts 100 successful ImageDelivery reconciles) against 100 `skopeo copy`
# runs of the same images to the same targets, in the same run. Prints both times and the ratio
# (controller pass / skopeo runs; bar <= 0.05). The pass runs from the first reconcile to the
# last; the controller's start-up before it (informer lists, waiting for cache sync) is printed
# apart, with the ratio that includes it.
#
# Everything runs on 127.0.0.1: a real kube-apiserver + etcd (hack/cluster.sh) with sealift
# installed and the controller as its ServiceAccount, two docker-registry processes as two
# accounts (vendor, customer) with htpasswd auth and dockerconfigjson Secrets, and the release
# build of sealift.
#
# usage: hack/bench/resync.sh [COUNT]      (default 100)
# env:   BUILD_DIR (default build-bench, configured --buildtype=release if missing)
#        SEALIFT_BIN (use this binary, skip the build), RESYNC_CONCURRENCY (controller workers;
#        default 2, as `sealift controller`), RESYNC_KEEP=1 (keep the work directory),
#        RESYNC_CONTROLLER_ARGS (extra flags for the timed controller, e.g. --log-level debug)
set -eu

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
COUNT=${1:-100}
CONCURRENCY=${RESYNC_CONCURRENCY:-2}
PY=/usr/bin/python3
NS=bench

bench_sealift
mkdir -p "$BUILD_DIR"

WORK=$(mktemp -d "$BUILD_DIR/bench-resync.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    stop_cluster "$WORK/cluster"
    [ -n "${RESYNC_KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

kc() { kubectl --kubeconfig "$KUBECONFIG_ADMIN" --cache-dir "$WORK/kubecache" "$@"; }

echo "starting kube-apiserver + etcd (hack/cluster.sh) and two registries"
start_cluster "$WORK/cluster"
KUBECONFIG_FILE=$KUBECONFIG_SEALIFT
start_registry vendor vendor vendor-pw
A="127.0.0.1:$REG_PORT"
start_registry customer customer customer-pw
B="127.0.0.1:$REG_PORT"

kc create namespace "$NS" > /dev/null
kc create secret docker-registry vendor-pull -n "$NS" --docker-server="$A" \
    --docker-username=vendor --docker-password=vendor-pw > /dev/null
kc create secret docker-registry customer-push -n "$NS" --docker-server="$B" \
    --docker-username=customer --docker-password=customer-pw > /dev/null

echo "pushing the source image to $A"
$PY -c "
import sys; sys.path.insert(0, '$SRC_DIR/e2e/lib')
import registry as reg
lay = reg.Layout('$WORK/layout')
lay.tag(lay.image([512 * 1024, 256 * 1024, 64 * 1024], seed=1), '1.0')
"
skopeo copy --quiet --dest-tls-verify=false --dest-creds vendor:vendor-pw \
    "oci:$WORK/layout:1.0" "docker://$A/acme/app:1.0"

echo "creating $COUNT ImageDeliveries"
n=1
: > "$WORK/imds.yaml"
while [ $n -le "$COUNT" ]; do
    cat >> "$WORK/imds.yaml" <<YAML
---
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {name: app$n, namespace: $NS}
spec:
  source:
    image: $A/acme/app
    tags: ["1.0"]
    insecure: true
    secretRef: {name: vendor-pull}
  targets:
  - image: $B/mirror/app$n
    insecure: true
    secretRef: {name: customer-push}
  interval: 10m
YAML
    n=$((n + 1))
done
kc apply -f "$WORK/imds.yaml" > /dev/null

ready_count() {
    kc get imd -n "$NS" -o json | jq '[.items[] | select(any(.status.conditions[]?;
        .type == "Ready" and .status == "True"))] | length'
}

echo "first delivery (not timed)"
MPORT=$(free_port)
"$SEALIFT" controller --kubeconfig "$KUBECONFIG_FILE" --namespace sealift-system \
    --metrics-addr "127.0.0.1:$MPORT" --concurrency "$CONCURRENCY" \
    --insecure-registry "$A" --insecure-registry "$B" > "$WORK/controller1.log" 2>&1 &
CTL=$!
PIDS="$PIDS $CTL"
i=0
until [ "$(ready_count)" -ge "$COUNT" ]; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "deliveries did not become Ready" >&2; tail -5 "$WORK/controller1.log" >&2; exit 1; }
    sleep 0.5
done
kill "$CTL"; wait "$CTL" 2>/dev/null || true
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$CTL" | tr '\n' ' ')
RV_BEFORE=$(kc get imd -n "$NS" -o json | jq -r '[.items[].metadata.resourceVersion] | join(",")')

echo "timed: one controller pass over $COUNT in-sync ImageDeliveries"
MPORT=$(free_port)
# prints "<start to last reconcile> <start to first reconcile done> <mean reconcile>" in seconds
TIMES=$($PY - "$SEALIFT" "$KUBECONFIG_FILE" "$MPORT" "$COUNT" "$CONCURRENCY" "$WORK/controller2.log" \
    "--insecure-registry $A --insecure-registry $B ${RESYNC_CONTROLLER_ARGS:-}" <<'PYEOF'
import re, subprocess, sys, time, urllib.request
sealift, kubeconfig, port, count, conc, log, extra = sys.argv[1:8]
count = int(count)
total_re = re.compile(r'^sealift_reconcile_total\{[^}]*kind="ImageDelivery"[^}]*result="success"[^}]*\}\s+(\S+)', re.M)
sum_re = re.compile(r'^sealift_reconcile_duration_seconds_sum\{[^}]*kind="ImageDelivery"[^}]*\}\s+(\S+)', re.M)
t0 = time.monotonic()
p = subprocess.Popen([sealift, "controller", "--kubeconfig", kubeconfig, "--namespace",
                      "sealift-system", "--metrics-addr", f"127.0.0.1:{port}", "--concurrency",
                      conc, *extra.split()], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
first = done = None
mean = 0.0
try:
    while time.monotonic() - t0 < 300:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
            m = total_re.search(text)
            n = float(m.group(1)) if m else 0
            if n >= 1 and first is None:
                first = time.monotonic() - t0
            if n >= count:
                done = time.monotonic() - t0
                s = sum_re.search(text)
                mean = float(s.group(1)) / n if s else 0.0
                break
        except OSError:
            pass
        time.sleep(0.005)
finally:
    p.terminate()
    p.wait(30)
if done is None:
    sys.exit("the controller did not reconcile every ImageDelivery in 300 s")
print(f"{done:.3f} {first:.3f} {mean:.4f}")
PYEOF
)
TOTAL_S=${TIMES%% *}
FIRST_S=$(echo "$TIMES" | cut -d' ' -f2)
MEAN_S=$(echo "$TIMES" | cut -d' ' -f3)
# the pass itself: from the moment the first reconcile started (first completion minus one mean
# reconcile) to the last completion; start-up (informer lists, cache sync) is reported apart
PASS_S=$(awk -v t="$TOTAL_S" -v f="$FIRST_S" -v m="$MEAN_S" 'BEGIN { printf "%.3f", t - f + m }')
STARTUP_S=$(awk -v t="$TOTAL_S" -v p="$PASS_S" 'BEGIN { printf "%.3f", t - p }')
RV_AFTER=$(kc get imd -n "$NS" -o json | jq -r '[.items[].metadata.resourceVersion] | join(",")')
[ "$RV_BEFORE" = "$RV_AFTER" ] || echo "warning: the pass wrote to some ImageDeliveries" >&2

echo "timed: $COUNT skopeo copy runs of the same image to the same targets"
T0=$($PY -c 'import time; print(time.monotonic())')
n=1
while [ $n -le "$COUNT" ]; do
    skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
        --src-creds vendor:vendor-pw --dest-creds customer:customer-pw \
        "docker://$A/acme/app:1.0" "docker://$B/mirror/app$n:1.0" > /dev/null
    n=$((n + 1))
done
T1=$($PY -c 'import time; print(time.monotonic())')
SKOPEO_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')

echo "controller pass: ${PASS_S} s for $COUNT ImageDeliveries (first reconcile to last; mean" \
    "reconcile $(awk -v m="$MEAN_S" 'BEGIN { printf "%.1f", m * 1000 }') ms, $CONCURRENCY workers)"
echo "controller start-up before the pass: ${STARTUP_S} s (process start to first reconcile)"
echo "skopeo copy:     ${SKOPEO_S} s for $COUNT runs"
awk -v p="$PASS_S" -v t="$TOTAL_S" -v s="$SKOPEO_S" 'BEGIN {
    r = p / s;
    printf "resync ratio (controller pass / skopeo runs): %.4f (bar <= 0.05) %s\n", r,
           r <= 0.05 ? "PASS" : "FAIL";
    printf "with start-up (process start to last reconcile / skopeo runs): %.4f\n", t / s;
}'
