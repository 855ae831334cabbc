#!/usr/bin/env bash
# A local Kubernetes control plane for the demo and the end-to-end tests: a real etcd and a real
# kube-apiserver, built once from the Go module proxy at pinned versions (hack/tools/) and cached
# outside the work tree, started on 127.0.0.1 free ports with TLS, RBAC, service-account tokens
# and the admission plugins on. There is no kubelet, scheduler or controller-manager: objects
# are stored, validated, admitted and watched exactly as in a cluster, but nothing runs Pods.
#
#   hack/cluster.sh build              build (once) and print the binaries' paths
#   hack/cluster.sh up DIR             start etcd + kube-apiserver; writes DIR/kubeconfig (admin)
#   hack/cluster.sh install DIR        kubectl apply -k crds/, webhook Service routed to 127.0.0.1,
#                                      DIR/sealift.kubeconfig (the controller's ServiceAccount)
#   hack/cluster.sh restart-apiserver DIR   stop and start kube-apiserver (same port, same etcd)
#   hack/cluster.sh stop-apiserver DIR / start-apiserver DIR   the two halves of a restart
#   hack/cluster.sh compact DIR        compact etcd at its current revision
#   hack/cluster.sh down DIR           stop exactly the processes `up` started
#
# Files under DIR: pki/ (CA, serving, admin, webhook client certificates, service-account key),
# etcd/ (data), *.log, pids, env (ports), kubeconfig, sealift.kubeconfig, serviceaccount/
# (token, ca.crt, namespace: the in-cluster layout for the controller), audit.log (every request
# of sealift's ServiceAccount, Metadata level: verb, URI, response code).
#
# Environment: SEALIFT_TOOLS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/sealift/tools),
# SEALIFT_WEBHOOK_PORT (up and install: the port of the webhook Service, which the controller's
# webhook listens on; default 9443).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
cache=${SEALIFT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealift/tools}
apiserver_bin=$cache/kube-apiserver-$KUBE_VERSION/kube-apiserver
etcd_bin=$cache/etcd-$ETCD_VERSION/etcd

die() { echo "cluster.sh: $*" >&2; exit 1; }

build_one() { # build_one NAME MODULE_DIR PACKAGE OUT [LDFLAGS]
  local name=$1 dir=$2 pkg=$3 out=$4 ld=${5:-}
  [ -x "$out" ] && return 0
  command -v go >/dev/null || die "go is needed to build $name (the project's machines have it)"
  echo "cluster.sh: building $name from the Go module proxy (once; cached in $(dirname "$out"))" >&2
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2086
  if ! (cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $ld" -o "$tmp/$name" "$pkg") \
      >"$tmp/build.log" 2>&1; then
    tail -30 "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "building $name ($pkg) failed"
  fi
  mkdir -p "$(dirname "$out")"
  mv "$tmp/$name" "$out"
  rm -rf "$tmp"
}

cmd_build() {
  build_one etcd "$here/tools/etcd" go.etcd.io/etcd/server/v3 "$etcd_bin"
  local ld="" p minor
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  build_one kube-apiserver "$here/tools/kube" k8s.io/kubernetes/cmd/kube-apiserver "$apiserver_bin" "$ld"
}

# A port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range when there
# is room (as e2e/lib/procs.py's free_port): no outgoing connection is given such a port, so
# restart-apiserver finds its port free even while tests make client connections.
free_port() {
  /usr/bin/python3 - <<'PYEOF'
import random
import socket
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
rng = random.SystemRandom()
for _ in range(200 if low > 11000 else 0):
    port = rng.randrange(10000, low)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
PYEOF
}

pki() { # pki DIR: CA, certificates and keys the control plane and its clients use
  local d=$1/pki
  mkdir -p "$d"
  local o="-loglevel error"
  : "$o"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=sealift-test-ca" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  sign() { # sign NAME SUBJECT EXT
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
      -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 3650 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
    rm -f "$d/$1.csr" "$d/$1.ext"
  }
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
  sign admin "/O=system:masters/CN=sealift-test-admin" "extendedKeyUsage=clientAuth"
  # the certificate the API server presents to sealift's admission webhook
  sign webhook-client "/CN=kube-apiserver-webhook-client" "extendedKeyUsage=clientAuth"
  # the admission webhook's own serving certificate (the controller's --webhook-cert-dir)
  mkdir -p "$d/webhook"
  sign webhook-serving "/CN=sealift-webhook.sealift-system.svc" \
    "subjectAltName=DNS:sealift-webhook.sealift-system.svc,DNS:sealift-webhook.sealift-system,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  mv "$d/webhook-serving.crt" "$d/webhook/tls.crt"
  mv "$d/webhook-serving.key" "$d/webhook/tls.key"
  cp "$d/ca.crt" "$d/webhook/ca.crt"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
  openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  chmod 600 "$d"/*.key "$d/webhook/tls.key"
}

write_admission_config() { # the API server authenticates to webhooks with a client certificate
  local dir=$1
  # kube-apiserver picks the certificate by "<service>.<namespace>.svc[:<port>]" (the port only
  # when it is not 443): the webhook Service of `install` uses SEALIFT_WEBHOOK_PORT
  local port=${SEALIFT_WEBHOOK_PORT:-9443}
  cat >"$dir/webhook-client.kubeconfig" <<EOF
apiVersion: v1
kind: Config
users:
- name: "*.sealift-system.svc"
  user:
    client-certificate: $dir/pki/webhook-client.crt
    client-key: $dir/pki/webhook-client.key
- name: "sealift-webhook.sealift-system.svc:$port"
  user:
    client-certificate: $dir/pki/webhook-client.crt
    client-key: $dir/pki/webhook-client.key
EOF
  cat >"$dir/admission.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $dir/webhook-client.kubeconfig
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $dir/webhook-client.kubeconfig
EOF
}

write_audit_policy() { # what sealift's ServiceAccount asks the API server, for tests to check
  cat >"$1/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["system:serviceaccount:sealift-system:sealift-controller"]
- level: None
EOF
}

start_bg() { # start_bg NAME LOG CMD...: starts a process in the background, records its PID
  local dir=$1 name=$2; shift 2
  setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$dir/pids"
}

alive() { # alive PID: running and not a zombie waiting to be reaped
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

pid_of() { awk -v n="$2" '$1 == n {p=$2} END {print p}' "$1/pids" 2>/dev/null; }

stop_one() { # stop_one DIR NAME [GRACE_TENTHS]: SIGTERM, then SIGKILL after GRACE (10 s)
  local pid grace=${3:-100}
  pid=$(pid_of "$1" "$2")
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    [ "$grace" -gt 0 ] && kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq "$grace"); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  fi
  sed -i "/^$2 /d" "$1/pids"
}

start_apiserver() {
  local dir=$1
  # shellcheck disable=SC1091
  . "$dir/env"
  start_bg "$dir" kube-apiserver "$apiserver_bin" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/pki/sa.pub" \
    --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 \
    --authorization-mode=RBAC \
    --enable-admission-plugins=NamespaceLifecycle,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,MutatingAdmissionWebhook \
    --disable-admission-plugins=ServiceAccount \
    --admission-control-config-file="$dir/admission.yaml" \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log" \
    --audit-log-maxbackup=1 --audit-log-maxsize=200 \
    --allow-privileged=true --profiling=false --enable-priority-and-fairness=false \
    --endpoint-reconciler-type=none \
    --v=1
  local url="https://127.0.0.1:$APISERVER_PORT/readyz"
  for _ in $(seq 600); do
    if curl -sf --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
        --key "$dir/pki/admin.key" "$url" >/dev/null 2>&1; then
      return 0
    fi
    local pid
    pid=$(pid_of "$dir" kube-apiserver)
    kill -0 "$pid" 2>/dev/null || { tail -30 "$dir/kube-apiserver.log" >&2; die "kube-apiserver exited"; }
    sleep 0.1
  done
  tail -30 "$dir/kube-apiserver.log" >&2
  die "kube-apiserver did not become ready in 60 s"
}

cmd_up() {
  local dir=${1:?usage: cluster.sh up DIR}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  cmd_build
  [ -f "$dir/pids" ] && [ -s "$dir/pids" ] && die "$dir already has a running cluster (cluster.sh down $dir)"
  : >"$dir/pids"
  [ -f "$dir/pki/ca.crt" ] || pki "$dir"
  write_admission_config "$dir"
  write_audit_policy "$dir"
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "$etcd_port" "$peer_port" "$api_port" >"$dir/env"
  start_bg "$dir" etcd "$etcd_bin" --name default --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" \
    --listen-metrics-urls "" --log-level error --quota-backend-bytes 2147483648
  for _ in $(seq 300); do
    curl -sf --max-time 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
    kill -0 "$(pid_of "$dir" etcd)" 2>/dev/null || { tail -20 "$dir/etcd.log" >&2; die "etcd exited"; }
    sleep 0.1
  done
  start_apiserver "$dir"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sealift-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key
contexts:
- name: admin
  context: {cluster: sealift-test, user: admin, namespace: default}
current-context: admin
EOF
  echo "cluster.sh: kube-apiserver $KUBE_VERSION on https://127.0.0.1:$api_port (kubeconfig $dir/kubeconfig)"
}

cmd_install() {
  local dir=${1:?usage: cluster.sh install DIR}
  dir=$(cd "$dir" && pwd)
  local kc="$dir/kubeconfig" port=${SEALIFT_WEBHOOK_PORT:-9443}
  local k=(kubectl --kubeconfig "$kc" --cache-dir "$dir/kubecache")
  "${k[@]}" apply -k "$root/crds" >/dev/null
  # Nothing runs Pods here: the webhook Service becomes an ExternalName for localhost, which the
  # API server resolves to https://localhost:<port of the webhook configuration>.
  "${k[@]}" -n sealift-system delete service sealift-webhook --ignore-not-found >/dev/null
  "${k[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: sealift-webhook
  namespace: sealift-system
  labels: {app.kubernetes.io/name: sealift, app.kubernetes.io/part-of: sealift}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: $port, protocol: TCP}]
EOF
  "${k[@]}" wait --for condition=established --timeout=60s crd --all >/dev/null
  # The CRDs' conversion webhook: the same Service and port, trusting the CA that signs the
  # webhook's serving certificate.
  local ca_b64 crd
  ca_b64=$(base64 -w0 <"$dir/pki/ca.crt")
  for crd in imagedeliveries scanpolicies signingkeys deploypolicies gitsources; do
    "${k[@]}" patch crd "$crd.sealift.dev" --type=merge -p "{\"spec\":{\"conversion\":{\"webhook\":{\"clientConfig\":{\"caBundle\":\"$ca_b64\",\"service\":{\"port\":$port}}}}}}" >/dev/null
  done
  local token
  token=$("${k[@]}" -n sealift-system create token sealift-controller --duration=24h)
  local sa="$dir/serviceaccount"
  mkdir -p "$sa"
  printf '%s' "$token" >"$sa/token"
  cp "$dir/pki/ca.crt" "$sa/ca.crt"
  printf 'sealift-system' >"$sa/namespace"
  chmod 600 "$sa/token"
  # shellcheck disable=SC1091
  . "$dir/env"
  cat >"$dir/sealift.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sealift-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $dir/pki/ca.crt
users:
- name: sealift-controller
  user:
    tokenFile: $sa/token
contexts:
- name: sealift-controller
  context: {cluster: sealift-test, user: sealift-controller, namespace: sealift-system}
current-context: sealift-controller
EOF
  chmod 600 "$dir/sealift.kubeconfig"
}

cmd_restart_apiserver() {
  local dir=${1:?usage: cluster.sh restart-apiserver DIR}
  dir=$(cd "$dir" && pwd)
  stop_one "$dir" kube-apiserver
  start_apiserver "$dir"
}

cmd_stop_apiserver() {
  local dir=${1:?usage: cluster.sh stop-apiserver DIR}
  dir=$(cd "$dir" && pwd)
  stop_one "$dir" kube-apiserver
}

cmd_start_apiserver() {
  local dir=${1:?usage: cluster.sh start-apiserver DIR}
  dir=$(cd "$dir" && pwd)
  start_apiserver "$dir"
}

cmd_compact() {
  local dir=${1:?usage: cluster.sh compact DIR}
  # shellcheck disable=SC1091
  . "$dir/env"
  local rev
  rev=$(curl -sf -X POST -d '{"key":"AA=="}' "http://127.0.0.1:$ETCD_PORT/v3/kv/range" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  curl -sf -X POST -d "{\"revision\":\"$rev\",\"physical\":true}" \
    "http://127.0.0.1:$ETCD_PORT/v3/kv/compaction" >/dev/null
  echo "$rev"
}

cmd_down() {
  local dir=${1:?usage: cluster.sh down DIR}
  [ -f "$dir/pids" ] || return 0
  # the data under DIR is disposable: no graceful drain (kube-apiserver's takes seconds)
  stop_one "$dir" kube-apiserver 0
  stop_one "$dir" etcd 0
  : >"$dir/pids"
}

case "${1:-}" in
  build) cmd_build; echo "$etcd_bin"; echo "$apiserver_bin" ;;
  up) cmd_up "${2:-}" ;;
  install) cmd_install "${2:-}" ;;
  restart-apiserver) cmd_restart_apiserver "${2:-}" ;;
  stop-apiserver) cmd_stop_apiserver "${2:-}" ;;
  start-apiserver) cmd_start_apiserver "${2:-}" ;;
  compact) cmd_compact "${2:-}" ;;
  down) cmd_down "${2:-}" ;;
  *) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
