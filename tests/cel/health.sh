#!/usr/bin/env bash
# Evaluates the Flux healthCheckExprs shipped in docs/health/flux-health-check-exprs.yaml with
# @bufbuild/cel (health.mjs, Flux's order: inProgress, failed, current) on every kstatus state of
# the five kinds (health-cases.json): ready, stalled, retrying, first reconcile under way, a new
# generation not observed yet, suspended, no status yet. e2e/kube/test_health.py runs the same
# expressions on objects read from a real API server.
#   health.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -d "$here/node_modules/@bufbuild/cel" ]; then
  echo "tests/cel/node_modules missing: run hack/setup.sh" >&2
  exit 1
fi
/usr/bin/python3 - "$here/../../docs/health/flux-health-check-exprs.yaml" "$tmp/exprs.json" <<'PY'
import json, sys, yaml
checks = yaml.safe_load(open(sys.argv[1]))["spec"]["healthCheckExprs"]
kinds = sorted(c["kind"] for c in checks)
assert kinds == ["DeployPolicy", "GitSource", "ImageDelivery", "ScanPolicy", "SigningKey"], kinds
# every kind at v1beta1, the version it is served and stored as
assert all(c["apiVersion"] == "sealift.dev/v1beta1" and c.get("current") for c in checks)
json.dump(checks, open(sys.argv[2], "w"))
PY
cd "$here"
node health.mjs "$tmp/exprs.json" health-cases.json
