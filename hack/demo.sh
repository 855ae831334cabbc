#!/usr/bin/env bash
# The main job, from a fresh Debian machine: installs what is missing, builds sealift, starts a
# local environment — a real Kubernetes control plane (etcd + kube-apiserver from hack/cluster.sh,
# built once from the Go module proxy and cached), a vendor and a customer registry (real
# docker-registry processes with htpasswd accounts), a git daemon serving examples/gitops — runs
# the controller on the examples as its own ServiceAccount and shows the result with `kubectl get`.
#
# What happens: the platform team's GitOps repository (examples/gitops, pointed at the local
# registries) is applied by a GitSource; its SigningKey generates the release key, its
# ScanPolicy loads an advisory database, and its ImageDelivery delivers the vendor's
# acme/app 1.4.x tags to the customer registry: 1.4.0 carries a vulnerable glibc
# (CVE-2023-4911) and is blocked by the scan, 1.4.1 is delivered and signed. A DeployPolicy then
# lets only signed images from the customer registry run: `kubectl apply` of a Pod shows the
# admission webhook at work.
#
#   hack/demo.sh          run the demo, then stop everything it started
#   hack/demo.sh --keep   leave everything running; prints how to use it
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
keep=0
case "${1:-}" in
  "") ;;
  --keep) keep=1 ;;
  -h | --help)
    cat <<'HELP'
usage: hack/demo.sh [--keep | --help]

Builds sealift and runs the demo on a local environment: a real kube-apiserver + etcd, a vendor
and a customer registry (docker-registry with htpasswd accounts), a git daemon serving
examples/gitops, and the controller as its own ServiceAccount; then shows the result.

Options:
  (none)      run the demo, then stop everything it started and remove its files
  --keep      leave everything running and print how to use it (kubectl, registries, stop)
  -h, --help  print this help

Exit codes: 0 the demo ran; non-zero a step failed (its output says which).
HELP
    exit 0 ;;
  *) echo "hack/demo.sh: unknown option $1 (see hack/demo.sh --help)" >&2; exit 2 ;;
esac

bash hack/setup.sh
echo "==> building sealift (build/)"
[ -f build/build.ninja ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null
sealift=$src/build/sealift

work=$(mktemp -d -t sealift-demo-XXXXXX)
pids=()
cleanup() {
  if [ "$keep" = 0 ]; then
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    bash hack/cluster.sh down "$work/cluster" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
step() { printf '\n==> %s\n' "$*"; }

step "starting two registries: vendor (account acme) and customer (account cust)"
SRC_DIR=$src
. hack/lib/registry.sh
registry_start vendor "$work/vendor" acme:acme-pw
pids+=("$REG_PID")
vendor=127.0.0.1:$REG_PORT
registry_start customer "$work/customer" cust:cust-pw
pids+=("$REG_PID")
customer=127.0.0.1:$REG_PORT
echo "vendor registry $vendor, customer registry $customer"

step "pushing the vendor's image acme/app:1.4.0 and :1.4.1 (skopeo) and the advisory database (sealift db push)"
/usr/bin/python3 hack/demo/prepare.py image "$work/layout" 1.4.0 1.4.1
for tag in 1.4.0 1.4.1; do
  skopeo copy --quiet --dest-tls-verify=false --dest-creds acme:acme-pw \
    "oci:$work/layout:$tag" "docker://$vendor/acme/app:$tag"
done
/usr/bin/python3 hack/demo/prepare.py advisories "$work/advisories"
export DOCKER_CONFIG=$work/docker
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$vendor" "$(printf acme:acme-pw | base64)" \
  >"$DOCKER_CONFIG/config.json"
"$sealift" db push "$work/advisories" "$vendor/security/advisories:latest" --insecure

step "starting Kubernetes (etcd + kube-apiserver, RBAC on) and installing sealift (kubectl apply -k crds/)"
wport=$(free_port)
SEALIFT_WEBHOOK_PORT=$wport bash hack/cluster.sh up "$work/cluster"
SEALIFT_WEBHOOK_PORT=$wport bash hack/cluster.sh install "$work/cluster"
export KUBECONFIG=$work/cluster/kubeconfig
kubectl api-resources --api-group=sealift.dev

step "starting the sealift controller as ServiceAccount sealift-system/sealift-controller (webhook on 127.0.0.1:$wport, TLS)"
"$sealift" controller --kubeconfig "$work/cluster/sealift.kubeconfig" --namespace sealift-system \
  --metrics-addr 127.0.0.1:0 --webhook-addr "127.0.0.1:$wport" \
  --webhook-cert-dir "$work/cluster/pki/webhook" --webhook-service-port "$wport" \
  --webhook-client-ca "$work/cluster/pki/ca.crt" --webhook-client-name kube-apiserver-webhook-client \
  --state-dir "$work/state" --insecure-registry "$vendor" --insecure-registry "$customer" \
  >"$work/controller.log" 2>&1 &
pids+=($!)
metrics=""
for _ in $(seq 1 100); do
  metrics=$(grep -o '"metricsAddr":"[^"]*"' "$work/controller.log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$metrics" ] && break
  sleep 0.1
done
wait_http "http://$metrics/readyz" || { echo "controller not ready:"; tail -20 "$work/controller.log"; exit 1; }
echo "metrics and health on http://$metrics"

step "serving the GitOps repository (examples/gitops, pointed at the local registries) with git daemon"
/usr/bin/python3 hack/demo/prepare.py repo examples/gitops "$work/git" "$vendor" "$customer"
gport=$(free_port)
git daemon --reuseaddr --export-all --base-path="$work/git" --listen=127.0.0.1 --port="$gport" \
  "$work/git" >"$work/git-daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$gport") 2>/dev/null && break; sleep 0.1; done

step "bootstrap: namespace, registry Secrets (never in git) and the GitSource"
kubectl apply -f examples/gitops/bootstrap/namespace.yaml
kubectl -n vendor-acme create secret docker-registry vendor-pull --docker-server="$vendor" \
  --docker-username=acme --docker-password=acme-pw
kubectl -n vendor-acme create secret docker-registry customer-push --docker-server="$customer" \
  --docker-username=cust --docker-password=cust-pw
sed "s|url: .*|url: git://127.0.0.1:$gport/delivery.git|; s|interval: 1m|interval: 15s|" \
  examples/gitops/bootstrap/gitsource.yaml | kubectl apply -f -
kubectl -n vendor-acme wait --for=condition=Ready gitsource/delivery --timeout=60s
kubectl -n vendor-acme wait --for=condition=Ready sigkey/vendor-release --timeout=60s
kubectl -n vendor-acme wait --for=condition=Ready scanpolicy/default --timeout=60s
for _ in $(seq 1 120); do
  n=$(kubectl -n vendor-acme get imd acme-app -o jsonpath='{.status.summary.delivered}' 2>/dev/null || true)
  [ "${n:-0}" -ge 1 ] && break
  sleep 0.5
done
# the intended end state reads as success: Ready=True (1.4.1 delivered), Blocked=True (1.4.0)
kubectl -n vendor-acme wait --for=condition=Ready imd/acme-app --timeout=60s
kubectl -n vendor-acme wait --for=condition=Blocked imd/acme-app --timeout=60s

step "kubectl get sealift -A"
kubectl get sealift -A
echo
kubectl -n vendor-acme get imd acme-app \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'

step "the customer's registry has 1.4.1 (same digest as the vendor's), signed; 1.4.0 was blocked"
echo "vendor   1.4.1: $(skopeo inspect --raw --tls-verify=false --creds acme:acme-pw "docker://$vendor/acme/app:1.4.1" | sha256sum | cut -c1-64)"
echo "customer 1.4.1: $(skopeo inspect --raw --tls-verify=false --creds cust:cust-pw "docker://$customer/mirror/app:1.4.1" | sha256sum | cut -c1-64)"
skopeo inspect --raw --tls-verify=false --creds cust:cust-pw "docker://$customer/mirror/app:1.4.0" \
  >/dev/null 2>&1 && echo "customer 1.4.0: present (unexpected)" || echo "customer 1.4.0: not delivered"
kubectl -n vendor-acme get configmap vendor-release-pub -o jsonpath='{.data.cosign\.pub}' >"$work/cosign.pub"
"$sealift" verify "$customer/mirror/app:1.4.1" --key "$work/cosign.pub" --creds cust:cust-pw --insecure

step "deploy time: a DeployPolicy admits only signed images from the customer's mirror"
kubectl create namespace shop
kubectl label namespace shop sealift.dev/enforce=true
kubectl -n shop create secret docker-registry customer-pull --docker-server="$customer" \
  --docker-username=cust --docker-password=cust-pw
# the policy pins the release key by fingerprint: a key swapped later is not trusted
fp=$(kubectl -n vendor-acme get sigkey vendor-release -o jsonpath='{.status.fingerprint}')
echo "trusting vendor-acme/vendor-release, fingerprint $fp"
kubectl apply -f - <<YML
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: signed-mirror-only}
spec:
  namespaceSelector: {matchLabels: {sealift.dev/enforce: "true"}}
  enforcement: Deny
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: vendor-release
      key: {signingKeyRef: {namespace: vendor-acme, name: vendor-release, fingerprint: "$fp"}}
  rules:
    allowedRegistries: ["$customer/mirror/"]
    requireDigest: true
    forbidPrivileged: true
    requireRunAsNonRoot: true
YML
kubectl wait --for=condition=Ready deploypolicy/signed-mirror-only --timeout=60s
digest=$(skopeo inspect --raw --tls-verify=false --creds cust:cust-pw "docker://$customer/mirror/app:1.4.1" | sha256sum | cut -c1-64)
pod() { # name image
  cat <<YML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: shop}
spec:
  imagePullSecrets: [{name: customer-pull}]
  securityContext: {runAsNonRoot: true}
  containers: [{name: app, image: "$2"}]
YML
}
echo "--- a Pod running the signed, delivered image:"
pod acme-app "$customer/mirror/app@sha256:$digest" | kubectl apply -f -
echo "--- a Pod running the vendor's unsigned image, copied by hand into the mirror:"
skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false --src-creds acme:acme-pw \
  --dest-creds cust:cust-pw "docker://$vendor/acme/app:1.4.0" "docker://$customer/mirror/app:hand-copied"
hand=$(skopeo inspect --raw --tls-verify=false --creds cust:cust-pw "docker://$customer/mirror/app:hand-copied" | sha256sum | cut -c1-64)
pod hand-copied "$customer/mirror/app@sha256:$hand" | kubectl apply -f - 2>&1 || true
echo "--- kubectl debug of the running Pod with a privileged shell from elsewhere:"
kubectl -n shop debug acme-app --image=docker.io/library/busybox --profile=sysadmin \
  --attach=false 2>&1 || true

step "kubectl get sealift -A"
kubectl get sealift -A
kubectl get validatingadmissionpolicies,validatingwebhookconfigurations

if [ "$keep" = 1 ]; then
  echo
  echo "still running. Use:  export KUBECONFIG=$work/cluster/kubeconfig"
  echo "logs in $work; stop with: kill ${pids[*]}; bash hack/cluster.sh down $work/cluster"
fi
