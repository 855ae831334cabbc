#!/usr/bin/env bash
# Renders tests/cel/policies/*.yaml with `sealift policy render` and evaluates the generated
# ValidatingAdmissionPolicy CEL with @bufbuild/cel against tests/cel/workloads.json.
# The YAML output must parse to the same objects as the JSON output.
#   run.sh SEALIFT_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -d "$here/node_modules/@bufbuild/cel" ]; then
  echo "tests/cel/node_modules missing: run hack/setup.sh" >&2
  exit 1
fi
"$bin" policy render -o json "$here/policies/strict.yaml" >"$tmp/strict.json"
"$bin" policy render "$here/policies/strict.yaml" >"$tmp/strict.yaml"
/usr/bin/python3 - "$tmp/strict.json" "$tmp/strict.yaml" <<'PY'
import json, sys, yaml
want = json.load(open(sys.argv[1]))["items"]
got = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d is not None]
assert got == want, "YAML output differs from JSON output"
kinds = [o["kind"] for o in got]
assert kinds == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                 "ConstraintTemplate", "SealiftDeployPolicy"], kinds
b = got[1]["spec"]
assert b["validationActions"] == ["Deny"], b
assert b["matchResources"]["namespaceSelector"] == {"matchLabels": {"sealift.dev/enforce": "true"}}, b
assert b["policyName"] == got[0]["metadata"]["name"]
print("render output: YAML == JSON, binding ok")
PY
cd "$here"
node eval.mjs "$tmp/strict.json" workloads.json
