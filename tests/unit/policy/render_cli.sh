#!/bin/sh
# `sealift policy render` as a user runs it: mistakes the API server refuses are errors naming
# FILE:LINE and the field (exit 2), every object the controller creates is printed, and policies
# that check nothing or entries written as globs are called out.
# usage: render_cli.sh SEALIFT DATA_DIR [SOURCE_ROOT]
set -u
bin=$1
data=$2
root=${3:-}
fail=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# run FILE ARGS...: sets rc, stdout in $out, stderr in $err
run() {
    "$bin" policy render "$@" >"$out" 2>"$err"
    rc=$?
}
expect_rc() {
    [ "$rc" -eq "$1" ] || { echo "FAIL $2: exit $rc, want $1"; cat "$err"; fail=1; }
}
expect_err() {
    grep -qF -- "$1" "$err" || { echo "FAIL $2: stderr lacks \"$1\":"; cat "$err"; fail=1; }
}

# misspelled rules: exit 2, each misspelling by file:line and field path, nothing printed
run "$data/misspelled.yaml"
expect_rc 2 "misspelled fields"
expect_err "misspelled.yaml:10: spec.rules.allowedRegistry: unknown field" "misspelled fields"
expect_err "misspelled.yaml:12: spec.rules.requireDigets: unknown field" "misspelled fields"
[ -s "$out" ] && { echo "FAIL misspelled fields: printed objects"; fail=1; }
# from stdin the file is "-"
sed 's/allowedRegistry:/allowedRegistries:/' "$data/misspelled.yaml" | "$bin" policy render - \
    >"$out" 2>"$err"
rc=$?
expect_rc 2 "misspelling on stdin"
expect_err "-:12: spec.rules.requireDigets: unknown field" "misspelling on stdin"
grep -q "allowedRegistr" "$err" && { echo "FAIL the corrected field is still reported"; fail=1; }
# in a list item of the second document
run "$data/misspelled-second.yaml"
expect_rc 2 "misspelled list item"
expect_err "misspelled-second.yaml:22: spec.namespaceSelector.matchExpressions[1].operatr: unknown field" \
    "misspelled list item"
# wrong type and enum values, as the API server words them
printf 'kind: DeployPolicy\nmetadata: {name: p}\nspec:\n  rules:\n    requireDigest: "yes"\n' \
    | "$bin" policy render - >"$out" 2>"$err"
rc=$?
expect_rc 2 "wrong type"
expect_err "-:5: spec.rules.requireDigest: Invalid value: \"string\": must be of type boolean" "wrong type"
printf 'kind: DeployPolicy\nmetadata: {name: p}\nspec:\n  enforcement: Sometimes\n' \
    | "$bin" policy render - >"$out" 2>"$err"
rc=$?
expect_rc 2 "enum"
expect_err "-:4: spec.enforcement: Unsupported value: \"Sometimes\"" "enum"

# an apiVersion the API server does not serve DeployPolicy as
sed 's|sealift.dev/v1beta1|sealift.dev/v1|' "$data/no-rules.yaml" | "$bin" policy render - \
    >"$out" 2>"$err"
rc=$?
expect_rc 2 "apiVersion"
expect_err "-:1: apiVersion: Unsupported value: \"sealift.dev/v1\"" "apiVersion"

# only verifyImages: the ValidatingWebhookConfiguration the controller creates is printed
run "$data/signature-only.yaml"
expect_rc 0 "signature only"
grep -q "^kind: ValidatingWebhookConfiguration$" "$out" ||
    { echo "FAIL signature only: no ValidatingWebhookConfiguration printed"; fail=1; }
grep -q "path: /admission/signed$" "$out" ||
    { echo "FAIL signature only: webhook path /admission/signed missing"; fail=1; }
grep -q "caBundle" "$out" && { echo "FAIL signature only: a caBundle was invented"; fail=1; }
expect_err "without clientConfig.caBundle" "signature only"
run "$data/signature-only.yaml" -o json
expect_rc 0 "signature only, json"
grep -q '"kind": "ValidatingWebhookConfiguration"' "$out" ||
    { echo "FAIL signature only, json: no ValidatingWebhookConfiguration"; fail=1; }

# flags are parsed as every other command parses them (getopt_long): --flag=value, -oVALUE,
# flags before FILE, and a flag without its value is a usage error naming the flag
run --output=json --controller-namespace=ops "$data/signature-only.yaml"
expect_rc 0 "--output=json"
grep -q '"kind": "ValidatingWebhookConfiguration"' "$out" ||
    { echo "FAIL --output=json: no JSON ValidatingWebhookConfiguration"; fail=1; }
grep -q '"ops"' "$out" || { echo "FAIL --controller-namespace=ops: ops is not exempted"; fail=1; }
run -ojson "$data/signature-only.yaml"
expect_rc 0 "-ojson"
grep -q '"kind": "ValidatingWebhookConfiguration"' "$out" ||
    { echo "FAIL -ojson: no JSON ValidatingWebhookConfiguration"; fail=1; }
run "$data/signature-only.yaml" --controller-namespace
expect_rc 2 "--controller-namespace without its value"
expect_err "sealift policy render: --controller-namespace needs a value" \
    "--controller-namespace without its value"
run "$data/signature-only.yaml" "$data/no-rules.yaml"
expect_rc 2 "two files"
expect_err "only one FILE may be given" "two files"

# an unknown output format is a usage error naming the supported ones
run "$data/signature-only.yaml" -o xml
expect_rc 2 "-o xml"
expect_err "unknown output format \"xml\" (-o): supported: yaml, json" "-o xml"
[ -s "$out" ] && { echo "FAIL -o xml: printed something"; fail=1; }

# a policy with no rules renders nothing: a warning, exit 0
run "$data/no-rules.yaml"
expect_rc 0 "no rules"
expect_err "no-rules.yaml:5: warning: DeployPolicy renders nothing: the policy checks nothing" \
    "no rules"

# a glob in allowedRegistries (the API server's pattern refuses it): explained, exit 2
run "$data/glob-registry.yaml"
expect_rc 2 "glob entry"
expect_err "glob-registry.yaml:9: spec.rules.allowedRegistries[1]: Invalid value: \"registry.example/*\": entries are not globs: they match on reference boundaries" \
    "glob entry"

# --help says how entries match
"$bin" policy render --help | grep -q "match on reference boundaries, never as globs" ||
    { echo "FAIL --help does not say how allowedRegistries entries match"; fail=1; }

# render knows every field of the CRD's schema: each one, set alone, is never "unknown field"
# (a field added to crds/ but not to render's table would make render refuse valid policies)
if [ -n "$root" ]; then
    "$bin" policy render "$root/examples/reference/deploypolicy.yaml" >"$out" 2>"$err"
    rc=$?
    expect_rc 0 "examples/reference/deploypolicy.yaml"
    /usr/bin/python3 - "$root/crds/sealift.dev_deploypolicies.yaml" >"$out" <<'PY' || fail=1
import json, sys, yaml
crd = yaml.safe_load(open(sys.argv[1]))
beta = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
spec = beta["schema"]["openAPIV3Schema"]["properties"]["spec"]
sample = {"string": "x", "boolean": True, "integer": 1}
def put(doc, path, value):
    cur = doc
    for i, k in enumerate(path):
        last = i == len(path) - 1
        if k.endswith("[0]"):
            k = k[:-3]
            lst = cur.setdefault(k, [{}])
            if last:
                lst[0] = value
            cur = lst[0]
        elif last:
            cur[k] = value
        else:
            cur = cur.setdefault(k, {})
def fields(node, path):
    if node.get("type") == "array" and "items" in node:
        yield from fields(node["items"], path[:-1] + [path[-1] + "[0]"])
        return
    props = node.get("properties")
    if not props:
        yield path, node
        return
    for k, sub in props.items():
        yield from fields(sub, path + [k])
for path, node in fields(spec, []):
    t = node.get("type")
    value = node.get("enum", [None])[0] if node.get("enum") else sample.get(t, {})
    doc = {"apiVersion": "sealift.dev/v1beta1", "kind": "DeployPolicy",
           "metadata": {"name": "p"}, "spec": {}}
    put(doc["spec"], path, value)
    print(json.dumps(doc))
PY
    n=0
    while IFS= read -r doc; do
        n=$((n + 1))
        printf '%s\n' "$doc" | "$bin" policy render - >/dev/null 2>"$err"
        if grep -q "unknown field" "$err"; then
            echo "FAIL a field of the CRD's schema is unknown to render:"; cat "$err"; fail=1
        fi
    done <"$out"
    [ "$n" -ge 15 ] || { echo "FAIL only $n fields found in the CRD"; fail=1; }
fi

[ $fail -eq 0 ] && echo "ok   policy render CLI"
exit $fail
