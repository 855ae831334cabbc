#!/usr/bin/env bash
# Issues the admission webhook's serving certificate without cert-manager, into the Secret the
# controller's pods mount (sealift-webhook-tls: tls.crt, tls.key, ca.crt). Run it once at
# install and again to rotate (e.g. monthly, from a CI job or a CronJob with kubectl):
#
#   hack/webhook-cert.sh [--namespace NS] [--days N] [--kubeconfig FILE]
#
# - The CA lives in the Secret sealift-webhook-ca (kubernetes.io/tls) of NS: created on the first
#   run (ECDSA P-256, 10 years), reused afterwards, so a rotation changes the serving certificate
#   but not the CA, and the webhook configurations keep trusting the new certificate at once.
# - The serving certificate (ECDSA P-256, N days, default 90) names sealift-webhook.NS.svc (the
#   Service the webhook configurations call) and is written with the CA's ca.crt.
# - The sealift.dev CRDs' conversion webhook gets ca.crt as its caBundle here (the CRDs must be
#   applied first; run the script again after re-applying them).
# - caBundle: the controller writes ca.crt into the clientConfig.caBundle of the
#   ValidatingWebhookConfigurations it generates (re-read on every reconcile) and reloads
#   tls.crt/tls.key when the mounted Secret changes; nothing else is patched.
# Needs openssl and kubectl (the caller's credentials: create/update of Secrets in NS). The
# private keys never leave this machine's temporary folder, which is removed at the end.
set -euo pipefail
ns=sealift-system days=90 kc=()
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) ns=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --kubeconfig) kc=(--kubeconfig "$2"); shift 2 ;;
    -h | --help) sed -n 2,18p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "webhook-cert.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$days" in '' | *[!0-9]*) echo "webhook-cert.sh: --days wants a number" >&2; exit 2 ;; esac
k() { kubectl "${kc[@]}" -n "$ns" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077
svc=sealift-webhook

if k get secret sealift-webhook-ca >/dev/null 2>&1; then
  k get secret sealift-webhook-ca -o jsonpath='{.data.tls\.crt}' | base64 -d >"$tmp/ca.crt"
  k get secret sealift-webhook-ca -o jsonpath='{.data.tls\.key}' | base64 -d >"$tmp/ca.key"
  openssl x509 -in "$tmp/ca.crt" -noout 2>/dev/null && openssl pkey -in "$tmp/ca.key" -noout 2>/dev/null ||
    { echo "webhook-cert.sh: Secret $ns/sealift-webhook-ca holds no usable CA" >&2; exit 1; }
  echo "webhook-cert.sh: reusing the CA in $ns/sealift-webhook-ca" >&2
else
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=sealift-webhook-ca" -keyout "$tmp/ca.key" -out "$tmp/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  k create secret tls sealift-webhook-ca --cert "$tmp/ca.crt" --key "$tmp/ca.key" >/dev/null
  echo "webhook-cert.sh: created the CA in $ns/sealift-webhook-ca" >&2
fi

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc.$ns.svc" \
  -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
cat >"$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local,DNS:$svc.$ns,DNS:$svc
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/tls.crt" 2>/dev/null
k create secret generic sealift-webhook-tls --type kubernetes.io/tls \
  --from-file=tls.crt="$tmp/tls.crt" --from-file=tls.key="$tmp/tls.key" \
  --from-file=ca.crt="$tmp/ca.crt" --dry-run=client -o yaml | k apply -f - >/dev/null
echo "webhook-cert.sh: $ns/sealift-webhook-tls: $(openssl x509 -in "$tmp/tls.crt" -noout -subject -enddate | tr '\n' ' ')" >&2
# The CRDs' conversion webhook (/convert on the same Service) trusts the same CA.
ca_b64=$(base64 -w0 <"$tmp/ca.crt")
for crd in imagedeliveries scanpolicies signingkeys deploypolicies gitsources; do
  if k get crd "$crd.sealift.dev" >/dev/null 2>&1; then
    k patch crd "$crd.sealift.dev" --type=merge -p "{\"spec\":{\"conversion\":{\"webhook\":{\"clientConfig\":{\"caBundle\":\"$ca_b64\",\"service\":{\"namespace\":\"$ns\"}}}}}}" >/dev/null
  fi
done
echo "webhook-cert.sh: caBundle of the sealift.dev CRDs' conversion webhook set" >&2
