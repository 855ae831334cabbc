"""Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch for
built-in kinds, and server-side apply with simplified field ownership (managedFields)."""
import copy
import json

from .errors import ApiError

# --- JSON merge patch -------------------------------------------------------------------------


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --- JSON patch -------------------------------------------------------------------------------


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, f'the server rejected our request due to an error in our request: '
                       f'invalid JSON pointer "{path}"', "Invalid")
    return [_unescape(t) for t in path[1:].split("/")]


def _fail(msg):
    return ApiError(422, msg, "Invalid")


def _parent(doc, toks, path):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise _fail(f"doc is missing path: \"{path}\": missing value")
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise _fail(f"doc is missing path: \"{path}\": missing value")
        else:
            raise _fail(f"doc is missing path: \"{path}\": missing value")
    return cur


def _get(doc, path):
    toks = _pointer(path)
    if not toks:
        return doc
    par = _parent(doc, toks, path)
    last = toks[-1]
    if isinstance(par, dict) and last in par:
        return par[last]
    if isinstance(par, list):
        try:
            return par[int(last)]
        except (ValueError, IndexError):
            pass
    raise _fail(f"doc is missing path: \"{path}\": missing value")


def _add(doc, path, value):
    toks = _pointer(path)
    if not toks:
        return value
    par = _parent(doc, toks, path)
    last = toks[-1]
    if isinstance(par, dict):
        par[last] = value
    elif isinstance(par, list):
        if last == "-":
            par.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise _fail(f"doc is missing path: \"{path}\": missing value")
            if i < 0 or i > len(par):
                raise _fail(f"add operation does not apply: doc is missing path: \"{path}\": "
                            "missing value")
            par.insert(i, value)
    else:
        raise _fail(f"doc is missing path: \"{path}\": missing value")
    return doc


def _remove(doc, path):
    toks = _pointer(path)
    par = _parent(doc, toks, path)
    last = toks[-1] if toks else None
    if isinstance(par, dict) and last in par:
        return par.pop(last)
    if isinstance(par, list):
        try:
            return par.pop(int(last))
        except (ValueError, IndexError):
            pass
    raise _fail(f"doc is missing path: \"{path}\": missing value")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise ApiError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                       "BadRequest")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise _fail("the server rejected our request due to an error in our request: "
                        "unexpected kind of patch operation")
        kind = op["op"]
        path = op.get("path")
        if not isinstance(path, str):
            raise _fail(f"the server rejected our request due to an error in our request: "
                        f"missing path for {kind} operation")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            toks = _pointer(path)
            if not toks:
                doc = copy.deepcopy(op.get("value"))
            else:
                par = _parent(doc, toks, path)
                if isinstance(par, list):
                    par[int(toks[-1])] = copy.deepcopy(op.get("value"))
                else:
                    par[toks[-1]] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            v = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, v)
        elif kind == "copy":
            v = copy.deepcopy(_get(doc, op.get("from", "")))
            doc = _add(doc, path, v)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _fail(f"the server rejected our request due to an error in our request: "
                            f"testing value {path} failed: test failed")
        else:
            raise _fail(f"the server rejected our request due to an error in our request: "
                        f"Unexpected kind: {kind}")
    return doc


# --- strategic merge patch (built-in kinds) ---------------------------------------------------

MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "webhooks": "name", "secrets": "name",
    "topologySpreadConstraints": "topologyKey", "ports": "containerPort",
}
MERGE_PRIMITIVE = {"finalizers"}


def _list_key(name, items):
    key = MERGE_KEYS.get(name)
    if name == "ports" and items and isinstance(items[0], dict) and "containerPort" not in \
            items[0]:
        key = "port"
    return key


def strategic_merge(orig, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = dict(patch)
        p.pop("$patch")
        return copy.deepcopy(p)
    out = dict(orig) if isinstance(orig, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(v, list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and v.get("$patch") == "delete":
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = strategic_merge(out.get(k), v)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _merge_list(k, out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    if isinstance(retain, list):
        out = {k: x for k, x in out.items() if k in retain}
    return out


def _merge_list(name, orig, patch):
    if name in MERGE_PRIMITIVE:
        out = list(orig)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    key = _list_key(name, patch or orig)
    if not key or not all(isinstance(x, dict) for x in patch + orig):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
        return copy.deepcopy(patch)
    out = [copy.deepcopy(x) for x in orig]
    for p in patch:
        if p.get("$patch") == "replace":
            return [copy.deepcopy(x) for x in patch if "$patch" not in x]
        idx = next((i for i, x in enumerate(out) if x.get(key) == p.get(key)), None)
        if p.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, p))
        else:
            out[idx] = strategic_merge(out[idx], p)
    return out


# --- field ownership and server-side apply ----------------------------------------------------

IGNORED_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                "managedFields", "deletionTimestamp", "selfLink", "deletionGracePeriodSeconds",
                "generateName"}


def leaf_paths(obj, subresource=None, status_separate=False):
    """Leaf paths (tuples of keys) of obj that field ownership tracks. Lists are atomic."""
    out = set()

    def walk(v, prefix):
        if isinstance(v, dict):
            # an empty map owns nothing (and so conflicts with nothing)
            for k, x in v.items():
                walk(x, prefix + (k,))
        elif prefix:
            out.add(prefix)

    for k, v in (obj or {}).items():
        if k in ("apiVersion", "kind"):
            continue
        if subresource == "status" and k != "status":
            continue
        if subresource is None and status_separate and k == "status":
            continue
        if k == "metadata":
            if subresource == "status" or not isinstance(v, dict):
                continue
            for mk, mv in v.items():
                if mk not in IGNORED_META:
                    walk(mv, ("metadata", mk))
            continue
        walk(v, (k,))
    return out


def get_path(obj, path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return _MISSING
        cur = cur[p]
    return cur


class _Missing:
    pass


_MISSING = _Missing()


def fields_to_v1(paths):
    tree = {}
    for p in sorted(paths):
        node = tree
        for k in p:
            node = node.setdefault("f:" + k, {})
    return tree


def fields_from_v1(tree):
    out = set()

    def walk(node, prefix):
        kids = [k for k in node if k.startswith("f:")]
        if not kids or "." in node:
            if prefix:
                out.add(prefix)
        for k in kids:
            walk(node[k] if isinstance(node[k], dict) else {}, prefix + (k[2:],))

    if isinstance(tree, dict):
        walk(tree, ())
    return out


def _entries(obj):
    md = obj.get("metadata") or {} if obj else {}
    out = []
    for e in md.get("managedFields") or []:
        if isinstance(e, dict) and e.get("manager") is not None:
            out.append(e)
    return out


def _related(p, q):
    n = min(len(p), len(q))
    return p[:n] == q[:n]


def _remove_path(obj, path):
    cur = obj
    chain = []
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return
        chain.append((cur, p))
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)
    # drop maps left empty by the removal
    while chain:
        parent, k = chain.pop()
        if isinstance(parent[k], dict) and not parent[k]:
            del parent[k]
        else:
            break


def _deep_merge(base, cfg):
    if isinstance(base, dict) and isinstance(cfg, dict):
        out = dict(base)
        for k, v in cfg.items():
            out[k] = _deep_merge(base.get(k), v)
        return out
    return copy.deepcopy(cfg)


def _entry(manager, operation, api_version, subresource, paths, now):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
         "fieldsType": "FieldsV1", "fieldsV1": fields_to_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _set_entries(obj, entries):
    kept = [e for e in entries if e.get("fieldsV1")]
    obj.setdefault("metadata", {})["managedFields"] = kept
    if not kept:
        obj["metadata"].pop("managedFields", None)


def track_update(old, new, manager, api_version, subresource, status_separate, now):
    """Records an Update by manager: it takes the fields whose values it changed."""
    newp = leaf_paths(new, subresource, status_separate)
    oldp = leaf_paths(old, subresource, status_separate) if old else set()
    changed = {p for p in newp if old is None or get_path(old, p) != get_path(new, p)}
    removed = oldp - newp
    entries = []
    mine = set()
    for e in _entries(old):
        fs = fields_from_v1(e.get("fieldsV1"))
        if (e.get("manager"), e.get("operation"), e.get("subresource")) == \
                (manager, "Update", subresource):
            mine = fs
            continue
        fs = {p for p in fs if not any(_related(p, c) for c in changed | removed)} \
            if (changed or removed) else fs
        if fs != fields_from_v1(e.get("fieldsV1")):
            e = dict(e)
            e["fieldsV1"] = fields_to_v1(fs)
        entries.append(e)
    mine = {p for p in mine if p in newp} | changed
    if mine:
        entries.append(_entry(manager, "Update", api_version, subresource, mine, now))
    _set_entries(new, entries)
    return new


def server_side_apply(cur, cfg, manager, force, api_version, subresource, status_separate, now):
    """Returns the object after applying cfg as manager; raises 409 on conflicts."""
    cfgp = leaf_paths(cfg, subresource, status_separate)
    base = copy.deepcopy(cur) if cur else {}
    conflicts = []
    entries = []
    prev = set()
    for e in _entries(cur):
        fs = fields_from_v1(e.get("fieldsV1"))
        if (e.get("manager"), e.get("operation"), e.get("subresource")) == \
                (manager, "Apply", subresource):
            prev = fs
            continue
        entries.append([dict(e), fs])   # copies: the stored object must not change
    for e, fs in entries:
        lost = set()
        for q in fs:
            for p in cfgp:
                if _related(p, q):
                    shorter = p if len(p) <= len(q) else q
                    if get_path(cfg, shorter) != get_path(base, shorter):
                        conflicts.append((e, q))
                        lost.add(q)
        if force:
            e_fs = fs - lost
            e["fieldsV1"] = fields_to_v1(e_fs)
    if conflicts and not force:
        raise conflict_error(conflicts)
    others = set()
    for e, fs in entries:
        others |= fields_from_v1(e.get("fieldsV1"))
    for p in sorted(prev - cfgp, key=len, reverse=True):
        if not any(_related(p, q) for q in others) and not any(_related(p, c) for c in cfgp):
            _remove_path(base, p)
    merged = _deep_merge(base, {k: v for k, v in cfg.items() if k != "metadata"})
    md = dict(merged.get("metadata") or {})
    for k, v in (cfg.get("metadata") or {}).items():
        if k in IGNORED_META:
            if k in ("name", "namespace", "generateName") and v:
                md[k] = v
            continue
        md[k] = _deep_merge(md.get(k), v)
    merged["metadata"] = md
    new_entries = [e for e, _ in entries]
    new_entries.append(_entry(manager, "Apply", api_version, subresource, cfgp, now))
    _set_entries(merged, new_entries)
    return merged


def conflict_error(conflicts):
    by = {}
    for e, q in conflicts:
        by.setdefault((e.get("manager"), e.get("apiVersion")), []).append(q)
    n = len(conflicts)
    parts = []
    causes = []
    for (m, v), qs in by.items():
        fields = ["." + ".".join(q) for q in sorted(set(qs))]
        for f in fields:
            causes.append({"reason": "FieldManagerConflict",
                           "message": f'conflict with "{m}" using {v}', "field": f})
        if len(fields) == 1:
            parts.append(f'conflict with "{m}" using {v}: {fields[0]}')
        else:
            parts.append(f'conflicts with "{m}" using {v}:\n' +
                         "\n".join("- " + f for f in fields))
    msg = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + "\n".join(parts)
    return ApiError(409, msg, "Conflict", {"causes": causes})


def parse_body(raw):
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"error decoding patch: {exc}", "BadRequest")
