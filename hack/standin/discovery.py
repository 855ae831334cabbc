"""Discovery documents (/api, /apis, /version) and OpenAPI (/openapi/v2 as protobuf,
/openapi/v3 with CRD schemas for kubectl explain)."""
import copy
import hashlib
import json

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-standin", "gitCommit":
           "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"}


def group_versions(types):
    """{group: [versions, preferred first]} over all served types."""
    out = {}
    for rt in types:
        vs = out.setdefault(rt.group, [])
        for v in rt.versions:
            if v not in vs:
                vs.append(v)
    return out


def api_versions(addr):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}


def api_group_list(types):
    groups = []
    for g, vs in sorted(group_versions(types).items()):
        if not g:
            continue
        gvs = [{"groupVersion": f"{g}/{v}", "version": v} for v in vs]
        groups.append({"name": g, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(types, group):
    vs = group_versions(types).get(group)
    if not vs:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in vs]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


def resource_list(types, group, version):
    res = []
    for rt in types:
        if rt.group != group or version not in rt.versions:
            continue
        e = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
             "kind": rt.kind, "verbs": rt.verbs(),
             "storageVersionHash": hashlib.sha256(
                 f"{rt.group}/{rt.version}/{rt.kind}".encode()).hexdigest()[:11]}
        if rt.short_names:
            e["shortNames"] = rt.short_names
        if rt.categories:
            e["categories"] = rt.categories
        res.append(e)
        if rt.status:
            res.append({"name": rt.plural + "/status", "singularName": "",
                        "namespaced": rt.namespaced, "kind": rt.kind,
                        "verbs": ["get", "patch", "update"]})
    if not res:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": res}


# --- OpenAPI v2 as a gnostic openapi_v2.Document protobuf -----------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def openapi_v2_protobuf():
    info = _field(1, b"Kubernetes") + _field(2, VERSION["gitVersion"].encode())
    return _field(1, b"2.0") + _field(2, info)


# --- OpenAPI v3 ------------------------------------------------------------------------------

def _gv_path(group, version):
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_index(types):
    paths = {}
    for g, vs in group_versions(types).items():
        for v in vs:
            doc = openapi_v3_doc(types, g, v)
            h = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()
            p = _gv_path(g, v)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
    return {"paths": paths}


def _schema_name(group, version, kind):
    rev = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return f"{rev}.{version}.{kind}"


def openapi_v3_doc(types, group, version):
    schemas = {}
    paths = {}
    for rt in types:
        if rt.group != group or version not in rt.versions:
            continue
        sch = copy.deepcopy(rt.schemas.get(version)) if rt.schemas.get(version) else \
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        props = sch.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string", "description": "APIVersion defines "
                                        "the versioned schema of this representation of an "
                                        "object."})
        props.setdefault("kind", {"type": "string", "description": "Kind is a string value "
                                  "representing the REST resource this object represents."})
        props["metadata"] = {"type": "object", "description": "Standard object's metadata."}
        sch["x-kubernetes-group-version-kind"] = [{"group": group, "version": version,
                                                   "kind": rt.kind}]
        sname = _schema_name(group, version, rt.kind)
        schemas[sname] = sch
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else \
            f"{base}/{rt.plural}"
        gvk = {"group": group, "version": version, "kind": rt.kind}
        op = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
              "responses": {"200": {"description": "OK", "content": {"application/json": {
                  "schema": {"$ref": f"#/components/schemas/{sname}"}}}}}}
        paths[coll + "/{name}"] = {"get": op}
        paths[coll] = {"post": dict(op, **{"x-kubernetes-action": "post"})}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version":
                                         VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}
