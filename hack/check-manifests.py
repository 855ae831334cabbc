#!/usr/bin/python3
"""Checks sealift's manifests offline: crds/ and examples/.

- every YAML file under crds/ and examples/ parses;
- every CRD is a well-formed apiextensions.k8s.io/v1 CRD for group sealift.dev, version
  v1alpha1, with the names, scope, category, status subresource and printer columns of the API
  contract (DESIGN.md section 3), a structural schema (every node typed, every property
  described), valid defaults and compilable patterns;
- printer-column JSONPaths point to fields of the schema;
- every sealift.dev object under examples/ validates against its CRD's openAPIV3Schema with
  kube-apiserver semantics (type, required, enum, pattern, lengths, item counts, bounds,
  date-time format, unknown fields rejected as with fieldValidation=Strict), has a proper
  name, and a namespace exactly when its kind is namespaced;
- references between examples (signingKeyRef, scanPolicyRef, signingKeyRefs) resolve;
- docs/api.md has a section per kind that names every top-level spec and status field;
- RBAC has no wildcards, no secret update/patch/delete, leases only in the namespaced Role, and
  the controller container is hardened (non-root, read-only root, no escalation, no
  capabilities, RuntimeDefault seccomp, probes, resource requests and limits);
- every kustomization.yaml lists files that exist, and `kubectl kustomize` builds it (when
  kubectl is installed);
- the validator itself rejects a set of known-bad objects (so a broken validator cannot pass).

Usage: hack/check-manifests.py [--root DIR] [-v]
Needs only Debian's python3 and python3-yaml. Exit status 0 when everything holds, 1 otherwise
(each problem printed as "file: location: message").
"""

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys

import yaml

GROUP = "sealift.dev"
VERSION = "v1alpha1"

# The API contract: kind -> (plural, scope, short name, priority-0 printer columns in order).
# STATUS is the Ready condition's message, as Flux's kinds show it (issue 14).
CONTRACT = {
    "ImageDelivery": ("imagedeliveries", "Namespaced", "imd",
                      ["SOURCE", "TAGS", "SCAN", "SIGNED", "READY", "STATUS", "AGE"]),
    "ScanPolicy": ("scanpolicies", "Namespaced", "scanpol",
                   ["THRESHOLD", "RECORDS", "READY", "STATUS", "AGE"]),
    "SigningKey": ("signingkeys", "Namespaced", "sigkey",
                   ["MODE", "ALGORITHM", "FINGERPRINT", "READY", "STATUS", "AGE"]),
    "DeployPolicy": ("deploypolicies", "Cluster", "deploypol",
                     ["ENFORCEMENT", "READY", "STATUS", "AGE"]),
    "GitSource": ("gitsources", "Namespaced", "gitsrc",
                  ["URL", "REVISION", "READY", "STATUS", "AGE"]),
}

READY_PATH = '.status.conditions[?(@.type=="Ready")].status'
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
SCHEMA_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
# Keywords a structural schema may use (apiextensions.k8s.io/v1 JSONSchemaProps).
SCHEMA_KEYWORDS = {
    "description", "type", "format", "title", "default", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required", "items",
    "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "nullable",
    "example", "externalDocs", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-validations",
}


class Problems:
    """Collects problems as "file: where: message" lines."""

    def __init__(self):
        self.items = []

    def add(self, fname, where, msg):
        self.items.append("%s: %s: %s" % (fname, where, msg) if where else "%s: %s" % (fname, msg))


def rel(root, path):
    return os.path.relpath(path, root)


def load_docs(path):
    """All non-empty documents of a YAML file (raises yaml.YAMLError)."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def yaml_files(top):
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        # A Helm chart's templates are YAML only once rendered (e2e.release.chart renders them)
        if "Chart.yaml" in filenames and "templates" in dirnames:
            dirnames.remove("templates")
        for fn in sorted(filenames):
            if fn.endswith((".yaml", ".yml")):
                out.append(os.path.join(dirpath, fn))
    return out


# --------------------------------------------------------------------------------------------
# Validation of a value against an openAPIV3Schema, with kube-apiserver semantics and messages.

def type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__  # e.g. datetime.date from an unquoted YAML date


def type_ok(v, t):
    n = type_name(v)
    if t == "number":
        return n in ("integer", "number")
    return n == t


def fmt_value(v):
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def validate(value, sch, path, errs, strict=True):
    """Appends (path, message) pairs to errs for every violation of sch by value."""
    if value is None:
        if sch.get("nullable"):
            return
        errs.append((path, "Invalid value: \"null\": %s in body must be of type %s"
                     % (path, sch.get("type", "object"))))
        return
    if sch.get("x-kubernetes-int-or-string"):
        if type_name(value) not in ("integer", "string"):
            errs.append((path, "Invalid value: %s: must be an integer or a string"
                         % fmt_value(value)))
            return
    elif "type" in sch and not type_ok(value, sch["type"]):
        errs.append((path, "Invalid value: \"%s\": %s in body must be of type %s: \"%s\""
                     % (type_name(value), path, sch["type"], type_name(value))))
        return
    if "enum" in sch and value not in sch["enum"]:
        errs.append((path, "Unsupported value: %s: supported values: %s"
                     % (fmt_value(value), ", ".join(fmt_value(e) for e in sch["enum"]))))
    t = type_name(value)
    if t == "string":
        if "minLength" in sch and len(value) < sch["minLength"]:
            errs.append((path, "Invalid value: %s: %s in body should be at least %d chars long"
                         % (fmt_value(value), path, sch["minLength"])))
        if "maxLength" in sch and len(value) > sch["maxLength"]:
            errs.append((path, "Too long: may not be longer than %d" % sch["maxLength"]))
        if "pattern" in sch and not re.search(sch["pattern"], value):
            errs.append((path, "Invalid value: %s: %s in body should match '%s'"
                         % (fmt_value(value), path, sch["pattern"])))
        if sch.get("format") == "date-time" and not DATE_TIME.match(value):
            errs.append((path, "Invalid value: %s: %s in body must be of type date-time"
                         % (fmt_value(value), path)))
    if t in ("integer", "number"):
        if "minimum" in sch and value < sch["minimum"]:
            errs.append((path, "Invalid value: %s: %s in body should be greater than or equal "
                         "to %s" % (value, path, sch["minimum"])))
        if "maximum" in sch and value > sch["maximum"]:
            errs.append((path, "Invalid value: %s: %s in body should be less than or equal to %s"
                         % (value, path, sch["maximum"])))
    if t == "array":
        if "minItems" in sch and len(value) < sch["minItems"]:
            errs.append((path, "Invalid value: %d: %s in body should have at least %d items"
                         % (len(value), path, sch["minItems"])))
        if "maxItems" in sch and len(value) > sch["maxItems"]:
            errs.append((path, "Too many: %d: must have at most %d items"
                         % (len(value), sch["maxItems"])))
        lt = sch.get("x-kubernetes-list-type")
        if lt == "set":
            seen = []
            for i, item in enumerate(value):
                if item in seen:
                    errs.append(("%s[%d]" % (path, i), "Duplicate value: %s" % fmt_value(item)))
                seen.append(item)
        elif lt == "map":
            keys = sch.get("x-kubernetes-list-map-keys", [])
            seen = []
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    k = tuple(item.get(x) for x in keys)
                    if k in seen:
                        errs.append(("%s[%d]" % (path, i), "Duplicate value: %s" % (k,)))
                    seen.append(k)
        if "items" in sch:
            for i, item in enumerate(value):
                validate(item, sch["items"], "%s[%d]" % (path, i), errs, strict)
    if t == "object":
        props = sch.get("properties", {})
        for req in sch.get("required", []):
            if req not in value:
                errs.append(("%s.%s" % (path, req) if path else req, "Required value"))
        addl = sch.get("additionalProperties")
        for k, v in value.items():
            sub = "%s.%s" % (path, k) if path else k
            if k in props:
                validate(v, props[k], sub, errs, strict)
            elif isinstance(addl, dict):
                validate(v, addl, sub, errs, strict)
            elif addl is True or sch.get("x-kubernetes-preserve-unknown-fields"):
                continue
            elif strict:
                errs.append((sub, "unknown field \"%s\"" % sub))


def validate_object(obj, crd_schema):
    """Validates a whole custom object (spec and status; metadata is the API server's)."""
    errs = []
    sch = copy.deepcopy(crd_schema)
    top = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    sch_props = {k: v for k, v in sch.get("properties", {}).items()
                 if k not in ("apiVersion", "kind", "metadata")}
    top_sch = dict(sch)
    top_sch["properties"] = sch_props
    validate(top, top_sch, "", errs, strict=True)
    return errs


# --------------------------------------------------------------------------------------------
# CRD checks.

def walk_schema(sch, path, fname, probs, in_props=False):
    """Structural-schema checks on every node."""
    if not isinstance(sch, dict):
        probs.add(fname, path, "schema node is not a mapping")
        return
    for k in sch:
        if k not in SCHEMA_KEYWORDS:
            probs.add(fname, path, "unknown schema keyword %r" % k)
    special = (sch.get("x-kubernetes-int-or-string") or
               sch.get("x-kubernetes-preserve-unknown-fields"))
    if "type" not in sch and not special:
        probs.add(fname, path, "schema node has no type (not structural)")
    elif "type" in sch and sch["type"] not in SCHEMA_TYPES:
        probs.add(fname, path, "unknown type %r" % sch["type"])
    if in_props and not sch.get("description") and not path.endswith(".metadata"):
        probs.add(fname, path, "property has no description")
    if "pattern" in sch:
        try:
            re.compile(sch["pattern"])
        except re.error as e:
            probs.add(fname, path, "pattern %r does not compile: %s" % (sch["pattern"], e))
    if "enum" in sch:
        for e in sch["enum"]:
            if "type" in sch and not type_ok(e, sch["type"]):
                probs.add(fname, path, "enum value %r is not of type %s" % (e, sch["type"]))
    if sch.get("x-kubernetes-list-type") == "map":
        keys = sch.get("x-kubernetes-list-map-keys") or []
        item_req = (sch.get("items") or {}).get("required", [])
        for k in keys:
            if k not in item_req:
                probs.add(fname, path, "list-map key %r must be required in items" % k)
    props = sch.get("properties", {})
    if sch.get("type") == "object" and props and "additionalProperties" in sch:
        probs.add(fname, path, "properties and additionalProperties are mutually exclusive")
    for req in sch.get("required", []):
        if req not in props:
            probs.add(fname, path, "required field %r is not in properties" % req)
    if "default" in sch:
        errs = []
        validate(sch["default"], sch, path, errs, strict=True)
        for p, m in errs:
            probs.add(fname, path, "default does not validate: %s: %s" % (p, m))
    for k, sub in props.items():
        walk_schema(sub, "%s.%s" % (path, k), fname, probs, in_props=True)
    if isinstance(sch.get("items"), dict):
        walk_schema(sch["items"], path + "[]", fname, probs)
    if isinstance(sch.get("additionalProperties"), dict):
        walk_schema(sch["additionalProperties"], path + "{}", fname, probs)
    for comb in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(sch.get(comb, [])):
            if "type" in sub or "description" in sub or "default" in sub:
                probs.add(fname, "%s.%s[%d]" % (path, comb, i),
                          "type/description/default not allowed inside %s (structural)" % comb)


JSONPATH_STEP = re.compile(r'\.([A-Za-z0-9_-]+)((?:\[[^\]]*\])*)')


def resolve_jsonpath(sch, jsonpath):
    """Returns the schema node a printer-column JSONPath leads to, or an error string."""
    if not jsonpath.startswith("."):
        return None, "JSONPath must start with '.'"
    pos = 0
    node = sch
    steps = []
    while pos < len(jsonpath):
        m = JSONPATH_STEP.match(jsonpath, pos)
        if not m:
            return None, "cannot parse JSONPath at %r" % jsonpath[pos:]
        steps.append((m.group(1), m.group(2)))
        pos = m.end()
    if steps and steps[0][0] == "metadata":
        if len(steps) == 2 and steps[1][0] in ("name", "namespace", "creationTimestamp",
                                               "generation", "uid", "resourceVersion"):
            return {"type": "string"}, None
        return None, "unsupported metadata path"
    for name, filters in steps:
        props = node.get("properties", {})
        if name not in props:
            return None, "field %r not in schema" % name
        node = props[name]
        for flt in re.findall(r"\[[^\]]*\]", filters):
            if node.get("type") != "array":
                return None, "filter %s on non-array %r" % (flt, name)
            fm = re.match(r'^\[\?\(@\.([A-Za-z0-9_]+)\s*==\s*"[^"]*"\)\]$', flt)
            if fm and fm.group(1) not in node.get("items", {}).get("properties", {}):
                return None, "filter field %r not in items of %r" % (fm.group(1), name)
            if not fm and not re.match(r"^\[[0-9*]+\]$", flt):
                return None, "unsupported filter %s" % flt
            node = node.get("items", {})
    return node, None


def check_crd(fname, crd, probs):
    """Checks one CRD; returns (kind, schema, namespaced) or None."""
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or \
            crd.get("kind") != "CustomResourceDefinition":
        probs.add(fname, "", "not an apiextensions.k8s.io/v1 CustomResourceDefinition")
        return None
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    kind = names.get("kind")
    if spec.get("group") != GROUP:
        probs.add(fname, "spec.group", "must be %s" % GROUP)
    if kind not in CONTRACT:
        probs.add(fname, "spec.names.kind", "unexpected kind %r" % kind)
        return None
    plural, scope, short, columns = CONTRACT[kind]
    if crd.get("metadata", {}).get("name") != "%s.%s" % (plural, GROUP):
        probs.add(fname, "metadata.name", "must be %s.%s" % (plural, GROUP))
    if os.path.basename(fname) != "%s_%s.yaml" % (GROUP, plural):
        probs.add(fname, "", "file name must be %s_%s.yaml" % (GROUP, plural))
    if names.get("plural") != plural:
        probs.add(fname, "spec.names.plural", "must be %s" % plural)
    if names.get("singular") != kind.lower():
        probs.add(fname, "spec.names.singular", "must be %s" % kind.lower())
    if names.get("listKind") != kind + "List":
        probs.add(fname, "spec.names.listKind", "must be %sList" % kind)
    if short not in (names.get("shortNames") or []):
        probs.add(fname, "spec.names.shortNames", "must contain %s" % short)
    if "sealift" not in (names.get("categories") or []):
        probs.add(fname, "spec.names.categories", "must contain sealift")
    if spec.get("scope") != scope:
        probs.add(fname, "spec.scope", "must be %s" % scope)
    versions = spec.get("versions") or []
    if len(versions) != 1 or versions[0].get("name") != VERSION:
        probs.add(fname, "spec.versions", "must hold exactly version %s" % VERSION)
        return None
    v = versions[0]
    if not v.get("served") or not v.get("storage"):
        probs.add(fname, "spec.versions[0]", "must be served and storage")
    if (v.get("subresources") or {}).get("status") != {}:
        probs.add(fname, "spec.versions[0].subresources", "status subresource missing")
    sch = (v.get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(sch, dict):
        probs.add(fname, "openAPIV3Schema", "missing")
        return None
    walk_schema(sch, "openAPIV3Schema", fname, probs)
    props = sch.get("properties", {})
    for k in ("spec", "status"):
        if k not in props:
            probs.add(fname, "openAPIV3Schema.properties", "%s missing" % k)
    st = props.get("status", {}).get("properties", {})
    if "observedGeneration" not in st:
        probs.add(fname, "status", "observedGeneration missing")
    cond = st.get("conditions", {}).get("items", {}).get("properties", {})
    for f in ("type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"):
        if f not in cond:
            probs.add(fname, "status.conditions[]", "field %s missing" % f)
    # Printer columns.
    cols = v.get("additionalPrinterColumns") or []
    prio0 = [c.get("name", "").upper() for c in cols if not c.get("priority")]
    if prio0 != columns:
        probs.add(fname, "additionalPrinterColumns",
                  "priority-0 columns are %s, contract says %s" % (prio0, columns))
    for c in cols:
        where = "additionalPrinterColumns[%s]" % c.get("name")
        if c.get("type") not in ("string", "integer", "number", "boolean", "date"):
            probs.add(fname, where, "bad type %r" % c.get("type"))
        node, err = resolve_jsonpath(sch, c.get("jsonPath", ""))
        if err:
            probs.add(fname, where, "jsonPath %s: %s" % (c.get("jsonPath"), err))
            continue
        want = {"string": "string", "integer": "integer", "number": "number",
                "boolean": "boolean", "date": "string"}.get(c.get("type"))
        if node.get("type") and want and node.get("type") != want and \
                not (want == "number" and node.get("type") == "integer"):
            probs.add(fname, where, "column type %s but field type %s"
                      % (c.get("type"), node.get("type")))
        if c.get("name", "").upper() == "READY" and c.get("jsonPath") != READY_PATH:
            probs.add(fname, where, "READY must use %s" % READY_PATH)
        if c.get("name", "").upper() == "AGE" and \
                (c.get("jsonPath") != ".metadata.creationTimestamp" or c.get("type") != "date"):
            probs.add(fname, where, "AGE must be the date .metadata.creationTimestamp")
    return kind, sch, scope == "Namespaced"


# --------------------------------------------------------------------------------------------
# Examples.

def refs_of(obj):
    """(kind, namespace, name, where) of the sealift objects obj refers to."""
    ns = obj.get("metadata", {}).get("namespace")
    spec = obj.get("spec") or {}
    out = []
    if obj.get("kind") == "ImageDelivery":
        for key in ("verify", "sign"):
            ref = (spec.get(key) or {}).get("signingKeyRef") or {}
            if ref.get("name"):
                out.append(("SigningKey", ns, ref["name"], "spec.%s.signingKeyRef" % key))
        ref = spec.get("scanPolicyRef") or {}
        if ref.get("name"):
            out.append(("ScanPolicy", ns, ref["name"], "spec.scanPolicyRef"))
    if obj.get("kind") == "DeployPolicy":
        req = ((spec.get("rules") or {}).get("requireSignature") or {})
        for i, ref in enumerate(req.get("signingKeyRefs") or []):
            out.append(("SigningKey", ref.get("namespace"), ref.get("name"),
                        "spec.rules.requireSignature.signingKeyRefs[%d]" % i))
    return out


def check_example(fname, obj, crds, probs):
    """Validates one example object."""
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        probs.add(fname, "", "not a Kubernetes object (apiVersion and kind required)")
        return
    md = obj.get("metadata") or {}
    name = md.get("name")
    if not isinstance(name, str) or not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
        probs.add(fname, "metadata.name", "missing or not a DNS-1123 subdomain: %r" % name)
    ns = md.get("namespace")
    if ns is not None and (not isinstance(ns, str) or not DNS1123_LABEL.match(ns)):
        probs.add(fname, "metadata.namespace", "not a DNS-1123 label: %r" % ns)
    api = obj["apiVersion"]
    if not api.startswith(GROUP + "/"):
        return
    if api != "%s/%s" % (GROUP, VERSION):
        probs.add(fname, "apiVersion", "must be %s/%s" % (GROUP, VERSION))
        return
    kind = obj["kind"]
    if kind not in crds:
        probs.add(fname, "kind", "no CRD for %s" % kind)
        return
    sch, namespaced = crds[kind]
    if namespaced and ns is None:
        probs.add(fname, "metadata.namespace", "%s is namespaced: set a namespace" % kind)
    if not namespaced and ns is not None:
        probs.add(fname, "metadata.namespace", "%s is cluster-scoped: no namespace" % kind)
    for p, m in validate_object(obj, sch):
        probs.add(fname, "%s %s" % (kind, name), "%s: %s" % (p, m) if p else m)


def check_kustomization(fname, path, doc, probs):
    """Every file a kustomization lists exists (fname for messages, path on disk)."""
    base = os.path.dirname(path)
    for key in ("resources", "components", "crds"):
        for r in doc.get(key) or []:
            p = os.path.join(base, r)
            if "://" in r:
                probs.add(fname, key, "remote resource %r (must work offline)" % r)
            elif not os.path.exists(p):
                probs.add(fname, key, "listed file %r does not exist" % r)


def check_docs(root, crds, probs):
    """docs/api.md has a section per kind naming every top-level spec and status field."""
    path = os.path.join(root, "docs", "api.md")
    if not os.path.exists(path):
        probs.add("docs/api.md", "", "missing")
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for kind, (sch, _) in sorted(crds.items()):
        m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % kind, text, re.S | re.M)
        if not m:
            probs.add("docs/api.md", "", "no section '## %s'" % kind)
            continue
        section = m.group(1)
        for part in ("spec", "status"):
            for field in sch.get("properties", {}).get(part, {}).get("properties", {}):
                if not re.search(r"`%s[`.\[]" % re.escape(field), section):
                    probs.add("docs/api.md", "## " + kind,
                              "%s.%s is not documented" % (part, field))


def check_install(root, parsed, probs):
    """Least privilege in crds/rbac.yaml and a hardened controller in crds/deployment.yaml."""
    objs = {}
    for path, docs in parsed.items():
        if os.path.dirname(path) == os.path.join(root, "crds"):
            for d in docs:
                if isinstance(d, dict):
                    key = (d.get("kind"), (d.get("metadata") or {}).get("name"))
                    objs[key] = (rel(root, path), d)
    cr = objs.get(("ClusterRole", "sealift-controller"))
    if not cr:
        probs.add("crds", "", "ClusterRole sealift-controller missing")
    else:
        fname, role = cr
        for i, rule in enumerate(role.get("rules") or []):
            where = "rules[%d]" % i
            for key in ("apiGroups", "resources", "verbs"):
                if "*" in (rule.get(key) or []):
                    probs.add(fname, where, "wildcard in %s" % key)
            res = rule.get("resources") or []
            verbs = set(rule.get("verbs") or [])
            if "secrets" in res and not verbs <= {"get", "list", "watch", "create"}:
                probs.add(fname, where, "secrets beyond get/list/watch/create: %s"
                          % sorted(verbs - {"get", "list", "watch", "create"}))
            if "leases" in res:
                probs.add(fname, where, "leases belong in the namespaced Role only")
            if "namespaces" in res and not verbs <= {"get", "list", "watch"}:
                probs.add(fname, where, "namespaces must be read-only")
    role = objs.get(("Role", "sealift-leader-election"))
    if not role or (role[1].get("metadata") or {}).get("namespace") != "sealift-system":
        probs.add("crds", "", "Role sealift-leader-election in sealift-system missing")
    dep = objs.get(("Deployment", "sealift-controller"))
    if not dep:
        probs.add("crds", "", "Deployment sealift-controller missing")
        return
    fname, d = dep
    pod = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
    psc = pod.get("securityContext") or {}
    for c in pod.get("containers") or []:
        where = "container %s" % c.get("name")
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            probs.add(fname, where, "runAsNonRoot is not true")
        if sc.get("readOnlyRootFilesystem") is not True:
            probs.add(fname, where, "readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            probs.add(fname, where, "allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            probs.add(fname, where, "capabilities.drop lacks ALL")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            probs.add(fname, where, "seccompProfile is not RuntimeDefault")
        for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            if ((c.get(probe) or {}).get("httpGet") or {}).get("path") != want:
                probs.add(fname, where, "%s must GET %s" % (probe, want))
        resources = c.get("resources") or {}
        if not resources.get("requests") or not resources.get("limits"):
            probs.add(fname, where, "resources need requests and limits")
        if (c.get("args") or [None])[0] != "controller":
            probs.add(fname, where, "first argument must be the controller subcommand")


# Known-bad objects: each must be rejected, or the validator is broken.
SELF_TESTS = [
    ("SigningKey", {"spec": {"mode": "Sometimes"}}, "Unsupported value"),
    ("SigningKey", {"spec": {"mode": "Generate", "algorithm": "rsa-2048"}}, "Unsupported value"),
    ("SigningKey", {"spec": {}}, "spec.mode: Required value"),
    ("SigningKey", {"spec": {"mode": "Import", "secretRef": {"name": "Not_A_Name"}}},
     "should match"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b"}}}, "spec.targets: Required value"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b"}, "targets": []}}, "at least 1 items"),
    ("ImageDelivery", {"spec": {"source": {}, "targets": [{"image": "c/d"}]}},
     "spec.source.image: Required value"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b", "digest": "sha256:abc"},
                                "targets": [{"image": "c/d"}]}}, "should match"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b"}, "targets": [{"image": "c/d"}],
                                "interval": "ten minutes"}}, "should match"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b"}, "targets": [{"image": "c/d"}],
                                "immutableTags": "yes"}}, "must be of type boolean"),
    ("ImageDelivery", {"spec": {"source": {"image": "a/b"}, "targets": [{"image": "c/d"}],
                                "colour": "blue"}}, "unknown field"),
    ("ScanPolicy", {"spec": {"severityThreshold": "Severe"}}, "Unsupported value"),
    ("DeployPolicy", {"spec": {"enforcement": "Sometimes"}}, "Unsupported value"),
    ("DeployPolicy", {"spec": {"outputs": ["Kyverno"]}}, "Unsupported value"),
    ("DeployPolicy", {"spec": {"outputs": ["Gatekeeper", "Gatekeeper"]}}, "Duplicate value"),
    ("GitSource", {"spec": {"url": "git.example:platform/x.git"}}, "should match"),
    ("GitSource", {"spec": {}}, "spec.url: Required value"),
    ("GitSource", {"status": {"conditions": [{"type": "Ready", "status": "Yes"}]},
                   "spec": {"url": "https://git.example/x.git"}}, "Unsupported value"),
    ("GitSource", {"status": {"artifact": {"fetchedAt": "yesterday"}},
                   "spec": {"url": "https://git.example/x.git"}}, "date-time"),
]


def run_self_tests(crds, probs):
    for kind, body, expect in SELF_TESTS:
        if kind not in crds:
            continue
        obj = dict(body, apiVersion="%s/%s" % (GROUP, VERSION), kind=kind,
                   metadata={"name": "bad"})
        errs = validate_object(obj, crds[kind][0])
        text = "; ".join("%s: %s" % e for e in errs)
        if expect not in text:
            probs.add("hack/check-manifests.py", "self-test %s %s" % (kind, body),
                      "expected an error containing %r, got %r" % (expect, text or "none"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   ".."), help="repository root")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    probs = Problems()

    parsed = {}
    for top in ("crds", "examples"):
        d = os.path.join(root, top)
        if not os.path.isdir(d):
            probs.add(top, "", "directory missing")
            continue
        for path in yaml_files(d):
            try:
                parsed[path] = load_docs(path)
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                probs.add(rel(root, path), "",
                          "YAML does not parse: %s" % str(e).replace("\n", " "))

    crds = {}
    crd_dir = os.path.join(root, "crds")
    for path, docs in sorted(parsed.items()):
        if os.path.dirname(path) != crd_dir or not os.path.basename(path).startswith(GROUP + "_"):
            continue
        if len(docs) != 1:
            probs.add(rel(root, path), "",
                      "one CRD per file expected, found %d documents" % len(docs))
            continue
        got = check_crd(rel(root, path), docs[0], probs)
        if got:
            kind, sch, namespaced = got
            if kind in crds:
                probs.add(rel(root, path), "", "second CRD for %s" % kind)
            crds[kind] = (sch, namespaced)
    for kind in CONTRACT:
        if kind not in crds:
            probs.add("crds", "", "no CRD for %s" % kind)

    run_self_tests(crds, probs)

    # Examples, grouped by their top folder under examples/ for reference resolution.
    objects = {}  # group -> {(kind, ns, name)}
    pending_refs = []
    n_examples = 0
    for path, docs in sorted(parsed.items()):
        r = rel(root, path)
        if os.path.basename(path) in ("kustomization.yaml", "kustomization.yml"):
            for doc in docs:
                check_kustomization(r, path, doc, probs)
            continue
        if not r.startswith("examples" + os.sep):
            continue
        parts = r.split(os.sep)
        group = parts[1] if len(parts) > 2 else ""
        for doc in docs:
            n_examples += 1
            check_example(r, doc, crds, probs)
            if isinstance(doc, dict):
                md = doc.get("metadata") or {}
                objects.setdefault(group, set()).add((doc.get("kind"), md.get("namespace"),
                                                      md.get("name")))
                for ref in refs_of(doc):
                    pending_refs.append((r, group, ref))
    for r, group, (kind, ns, name, where) in pending_refs:
        # A reference resolves in its own folder, or in examples/basic (which the others extend).
        pool = objects.get(group, set()) | objects.get("basic", set())
        if (kind, ns, name) not in pool:
            probs.add(r, where, "refers to %s %s/%s, which no example in examples/%s or "
                      "examples/basic defines" % (kind, ns, name, group))

    check_docs(root, crds, probs)
    check_install(root, parsed, probs)

    # kubectl's own kustomize build of every kustomization (offline), when kubectl is installed.
    kubectl = shutil.which("kubectl")
    if kubectl:
        for path in sorted(parsed):
            if os.path.basename(path) != "kustomization.yaml":
                continue
            cp = subprocess.run([kubectl, "kustomize", os.path.dirname(path)],
                                capture_output=True, text=True, check=False)
            if cp.returncode != 0:
                probs.add(rel(root, path), "", "kubectl kustomize failed: %s"
                          % cp.stderr.strip().replace("\n", " "))

    if probs.items:
        for p in probs.items:
            print(p, file=sys.stderr)
        print("check-manifests: %d problem(s)" % len(probs.items), file=sys.stderr)
        return 1
    if args.verbose:
        print("check-manifests: %d CRDs, %d example objects, %d self-tests: OK"
              % (len(crds), n_examples, len(SELF_TESTS)))
    else:
        print("check-manifests: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
