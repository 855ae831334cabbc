#!/usr/bin/env bash
# admission bench (DESIGN.md section 7): AdmissionReview round trips against sealift's
# validating webhook over TLS on loopback, warm cache (the image's signature and its vuln
# attestation, made with the real cosign from hack/peers.sh, were checked once), with wrk. Prints wrk's latency distribution and p50/p99. Bar: p99 <= 5 ms.
#
# usage: hack/bench/admission.sh [SECONDS] [CONNECTIONS]     (default 10 s, 4 connections)
# env:   BUILD_DIR (default build-bench, release build), SEALIFT_BIN (skip the build)
set -euo pipefail
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC_DIR/hack/bench/lib/common.sh"
DURATION=${1:-10}
CONNS=${2:-4}
bench_sealift
work=$(mktemp -d -t sealift-admission-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; stop_cluster "$work/cluster"; rm -rf "$work"; }
trap cleanup EXIT

# a registry with one signed image
registry_start registry "$work/registry" --log-level error
rport=$REG_PORT
pids+=("$REG_PID")
SRC_DIR=$SRC_DIR /usr/bin/python3 - "$work/layout" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["SRC_DIR"], "e2e", "lib"))
import registry
lay = registry.Layout(sys.argv[1])
lay.tag(lay.image([4096], seed=1), "1.0")
PY
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:1.0" "docker://127.0.0.1:$rport/mirror/app:1.0"
"$SEALIFT" keygen --out "$work/release" >/dev/null
"$SEALIFT" sign "127.0.0.1:$rport/mirror/app:1.0" --key "$work/release.key" --insecure >/dev/null
digest=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$rport/mirror/app:1.0" | sha256sum | cut -d' ' -f1)
# a fresh vuln attestation by the same key (requireAttestations below)
cosign=$(bash "$SRC_DIR/hack/peers.sh" build cosign | tail -1)
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$work/vuln.json" <<JSON
{"scanner":{"uri":"pkg:github/sealift/sealift","version":"bench","result":{"vulnerabilities":[]}},
 "metadata":{"scanStartedOn":"$finished","scanFinishedOn":"$finished"}}
JSON
# (sealift keygen writes cosign's encrypted format, here with the empty password)
(cd "$work" && export COSIGN_PASSWORD="" HOME="$work" &&
  "$cosign" attest --key release.key --type vuln --predicate vuln.json \
    --use-signing-config=false --tlog-upload=false --allow-insecure-registry -y \
    "127.0.0.1:$rport/mirror/app@sha256:$digest" >/dev/null 2>&1)

# kube-apiserver + etcd (hack/cluster.sh, its webhook certificate), controller with the webhook
wport=$(free_port)
WEBHOOK_PORT=$wport start_cluster "$work/cluster"
mkdir -p "$work/tls" && cp "$work/cluster/pki/webhook/"* "$work/tls/"
export KUBECONFIG=$KUBECONFIG_ADMIN
kubectl create namespace vendor-acme >/dev/null
kubectl create secret generic -n vendor-acme release-key --from-file=cosign.key="$work/release.key" >/dev/null
"$SEALIFT" controller --kubeconfig "$KUBECONFIG_SEALIFT" --namespace sealift-system \
  --metrics-addr 127.0.0.1:0 --webhook-addr "127.0.0.1:$wport" --webhook-cert-dir "$work/tls" \
  --webhook-service-port "$wport" \
  --insecure-registry "127.0.0.1:$rport" >"$work/controller.log" 2>&1 &
pids+=($!)
kubectl apply -f - >/dev/null <<YML
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec: {mode: Import, secretRef: {name: release-key}}
YML
kubectl wait --for=condition=Ready -n vendor-acme sigkey/release --timeout=60s >/dev/null
fp=$(kubectl -n vendor-acme get sigkey release -o jsonpath='{.status.fingerprint}')
kubectl apply -f - >/dev/null <<YML
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: bench}
spec:
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - {name: release, key: {signingKeyRef: {namespace: vendor-acme, name: release, fingerprint: "$fp"}}}
  rules:
    requireAttestations: [{type: vuln, maxAge: 168h}]
YML
kubectl wait --for=condition=Ready deploypolicy/bench --timeout=60s >/dev/null

cat >"$work/review.json" <<JSON
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench-1",
"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
"namespace":"shop","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",
"metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"app",
"image":"127.0.0.1:$rport/mirror/app@sha256:$digest"}]}}}}
JSON
url="https://127.0.0.1:$wport/admission/bench"
# warm the cache and check the answer once
answer=$(curl -s --cacert "$work/tls/ca.crt" -H 'Content-Type: application/json' --data-binary @"$work/review.json" "$url")
case "$answer" in *'"allowed":true'*) ;; *) echo "unexpected webhook answer: $answer"; exit 1 ;; esac
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/review.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
echo "wrk: ${DURATION}s, $CONNS connections, 1 thread, TLS, warm cache"
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/post.lua" "$url" | tee "$work/wrk.out"
p50=$(awk '/ 50%/ {print $2}' "$work/wrk.out")
p99=$(awk '/ 99%/ {print $2}' "$work/wrk.out")
echo "admission p50 $p50, p99 $p99 (bar: p99 <= 5 ms)"
