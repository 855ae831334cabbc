#!/usr/bin/env bash
# Renders tests/cel/policies/*.yaml with `sealift policy render` and evaluates the generated
# ValidatingAdmissionPolicy CEL with @bufbuild/cel: strict.yaml against tests/cel/workloads.json
# (every rule, every kind, `kubectl debug` updates, system namespaces), hosts.yaml against
# tests/cel/registries.json (allowedRegistries entries match on reference boundaries).
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
# kube-system and the controller's namespace are exempt (a webhook outage must not keep them
# from restarting)
assert b["matchResources"]["namespaceSelector"] == {
    "matchLabels": {"sealift.dev/enforce": "true"},
    "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                          "values": ["kube-system", "sealift-system"]}]}, b
rules = got[0]["spec"]["matchConstraints"]["resourceRules"]
assert any("pods/ephemeralcontainers" in r["resources"] and "UPDATE" in r["operations"]
           for r in rules), rules
assert b["policyName"] == got[0]["metadata"]["name"]
print("render output: YAML == JSON, binding ok")
PY
"$bin" policy render -o json "$here/policies/hosts.yaml" >"$tmp/hosts.json"
"$bin" policy render -o json "$here/policies/sandboxed.yaml" >"$tmp/sandboxed.json"

# refused at render time: a trusted key without a pinned fingerprint, a raw prefix entry
for bad in 'verifyImages: [{imageReferences: ["*"], authorities: [{name: k, key: {signingKeyRef: {namespace: v, name: k}}}]}]|signingKeyRef.fingerprint: Required value' \
           'rules: {allowedRegistries: ["mirror"]}|allowedRegistries[0]: Invalid value' \
           'rules: {allowedRegistries: ["registry.example/app:1.0"]}|allowedRegistries[0]: Invalid value' \
           'rules: {requireAttestations: [{type: vuln, maxAge: 168h}]}|verified with the keys of spec.verifyImages[].authorities' \
           'rules: {runtimeClassNames: ["gVisor"]}|runtimeClassNames[0]: Invalid value'; do
  printf 'kind: DeployPolicy\nmetadata: {name: bad}\nspec:\n  %s\n' "${bad%%|*}" >"$tmp/bad.yaml"
  rc=0
  "$bin" policy render "$tmp/bad.yaml" >/dev/null 2>"$tmp/err" || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qF "${bad#*|}" "$tmp/err"; then
    echo "FAIL render of '${bad%%|*}': exit $rc, stderr: $(cat "$tmp/err")" >&2
    exit 1
  fi
  echo "ok   render refuses ${bad%%|*}"
done

cd "$here"
node eval.mjs "$tmp/strict.json" workloads.json
node eval.mjs "$tmp/hosts.json" registries.json
node eval.mjs "$tmp/sandboxed.json" runtimeclass.json
