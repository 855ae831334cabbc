"""openAPIV3Schema handling for custom resources: pruning (with unknown-field reporting),
defaulting and validation, with kube-apiserver's error texts."""
import copy
import datetime
import json
import re

from .errors import FieldError

OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
}


def _child(path, name):
    return f"{path}.{name}" if path else name


def _prune_node(value, sch, path, unknown):
    if not isinstance(sch, dict):
        return value
    if isinstance(value, dict):
        props = sch.get("properties")
        addl = sch.get("additionalProperties")
        preserve = sch.get("x-kubernetes-preserve-unknown-fields")
        if sch.get("x-kubernetes-embedded-resource"):
            for k in ("apiVersion", "kind"):
                pass
            if isinstance(value.get("metadata"), dict):
                _prune_meta(value["metadata"], _child(path, "metadata"), unknown)
        for k in list(value):
            if props and k in props:
                value[k] = _prune_node(value[k], props[k], _child(path, k), unknown)
            elif isinstance(addl, dict):
                value[k] = _prune_node(value[k], addl, f"{path}[{k}]" if path else k, unknown)
            elif addl is True or preserve:
                continue
            elif sch.get("x-kubernetes-embedded-resource") and k in ("apiVersion", "kind",
                                                                    "metadata"):
                continue
            else:
                unknown.append(_child(path, k))
                del value[k]
    elif isinstance(value, list):
        items = sch.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(value):
                value[i] = _prune_node(v, items, f"{path}[{i}]", unknown)
    return value


def _prune_meta(md, path, unknown):
    for k in list(md):
        if k not in OBJECT_META_FIELDS:
            unknown.append(_child(path, k))
            del md[k]


def prune(obj, sch):
    """Removes fields the schema does not declare; returns their paths."""
    unknown = []
    if not isinstance(sch, dict):
        return unknown
    for k in list(obj):
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata":
            if isinstance(obj[k], dict):
                _prune_meta(obj[k], "metadata", unknown)
            continue
        props = sch.get("properties") or {}
        if k in props:
            obj[k] = _prune_node(obj[k], props[k], k, unknown)
        elif sch.get("x-kubernetes-preserve-unknown-fields"):
            continue
        else:
            unknown.append(k)
            del obj[k]
    return unknown


def apply_defaults(value, sch):
    if not isinstance(sch, dict):
        return value
    if isinstance(value, dict):
        props = sch.get("properties") or {}
        for k, ps in props.items():
            if not isinstance(ps, dict):
                continue
            if "default" in ps and (k not in value or (value[k] is None and
                                                       not ps.get("nullable"))):
                value[k] = copy.deepcopy(ps["default"])
        for k in list(value):
            if k in props:
                value[k] = apply_defaults(value[k], props[k])
            elif isinstance(sch.get("additionalProperties"), dict):
                value[k] = apply_defaults(value[k], sch["additionalProperties"])
    elif isinstance(value, list) and isinstance(sch.get("items"), dict):
        for i, v in enumerate(value):
            value[i] = apply_defaults(v, sch["items"])
    return value


def _type_name(v):
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
    return "unknown"


def _type_ok(v, t):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool) or (
            isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return True


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _num(n):
    if isinstance(n, float) and n.is_integer():
        return str(int(n))
    return str(n)


def _validate(v, sch, path, errs):
    if not isinstance(sch, dict):
        return
    pth = path or "<nil>"
    if v is None:
        if sch.get("nullable") or sch.get("x-kubernetes-preserve-unknown-fields") and \
                not sch.get("type"):
            return
        if sch.get("type"):
            errs.append(FieldError("TypeInvalid", pth, "null",
                                   f'{pth} in body must be of type {sch["type"]}: "null"'))
        return
    if sch.get("x-kubernetes-int-or-string"):
        if not (isinstance(v, (int, str)) and not isinstance(v, bool)):
            tn = _type_name(v)
            errs.append(FieldError("TypeInvalid", pth, tn,
                                   f'{pth} in body must be of type integer,string: "{tn}"'))
            return
    elif sch.get("type") and not _type_ok(v, sch["type"]):
        tn = _type_name(v)
        errs.append(FieldError("TypeInvalid", pth, tn,
                               f'{pth} in body must be of type {sch["type"]}: "{tn}"'))
        return
    enum = sch.get("enum")
    if isinstance(enum, list) and v not in enum:
        errs.append(FieldError("NotSupported", pth, v, supported=enum))
    if isinstance(v, str):
        pat = sch.get("pattern")
        if isinstance(pat, str):
            try:
                ok = re.search(pat, v) is not None
            except re.error:
                ok = True
            if not ok:
                errs.append(FieldError("Invalid", pth, v, f"{pth} in body should match '{pat}'"))
        if "minLength" in sch and len(v) < sch["minLength"]:
            errs.append(FieldError("Invalid", pth, v,
                                   f"{pth} in body should be at least {sch['minLength']} "
                                   "chars long"))
        if "maxLength" in sch and len(v.encode()) > sch["maxLength"]:
            n = sch["maxLength"]
            errs.append(FieldError("TooLong", pth, v,
                                   f"may not be more than {n} byte{'s' if n != 1 else ''}"))
        if sch.get("format") == "date-time" and not _DATE_TIME.match(v):
            errs.append(FieldError("Invalid", pth, v,
                                   f'{pth} in body must be of type date-time: "{v}"'))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in sch:
            m = sch["minimum"]
            if sch.get("exclusiveMinimum") and v <= m:
                errs.append(FieldError("Invalid", pth, v,
                                       f"{pth} in body should be greater than {_num(m)}"))
            elif v < m:
                errs.append(FieldError("Invalid", pth, v, f"{pth} in body should be greater "
                                       f"than or equal to {_num(m)}"))
        if "maximum" in sch:
            m = sch["maximum"]
            if sch.get("exclusiveMaximum") and v >= m:
                errs.append(FieldError("Invalid", pth, v,
                                       f"{pth} in body should be less than {_num(m)}"))
            elif v > m:
                errs.append(FieldError("Invalid", pth, v, f"{pth} in body should be less than "
                                       f"or equal to {_num(m)}"))
    if isinstance(v, list):
        if "minItems" in sch and len(v) < sch["minItems"]:
            errs.append(FieldError("Invalid", pth, len(v), f"{pth} in body should have at "
                                   f"least {sch['minItems']} items"))
        if "maxItems" in sch and len(v) > sch["maxItems"]:
            errs.append(FieldError("TooMany", pth, len(v),
                                   f"must have at most {sch['maxItems']} items"))
        items = sch.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                _validate(x, items, f"{path}[{i}]", errs)
        _check_list_type(v, sch, path, errs)
    if isinstance(v, dict):
        for r in sch.get("required") or []:
            if r not in v:
                errs.append(FieldError("Required", _child(path, r), has_value=False))
        if "minProperties" in sch and len(v) < sch["minProperties"]:
            errs.append(FieldError("Invalid", pth, len(v), f"{pth} in body should have at "
                                   f"least {sch['minProperties']} properties"))
        if "maxProperties" in sch and len(v) > sch["maxProperties"]:
            errs.append(FieldError("TooMany", pth, len(v),
                                   f"must have at most {sch['maxProperties']} items"))
        props = sch.get("properties") or {}
        addl = sch.get("additionalProperties")
        for k, x in v.items():
            if k in props:
                _validate(x, props[k], _child(path, k), errs)
            elif isinstance(addl, dict):
                _validate(x, addl, f"{path}[{k}]" if path else k, errs)
    for sub in sch.get("allOf") or []:
        _validate(v, sub, path, errs)


def _go_map(d):
    inner = ", ".join(f"{json.dumps(k)}:{_go_literal(x)}" for k, x in d.items())
    return "map[string]interface {}{" + inner + "}"


def _go_literal(x):
    if isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, dict):
        return _go_map(x)
    return str(x)


def _check_list_type(v, sch, path, errs):
    """x-kubernetes-list-type set/map: duplicates are refused like kube-apiserver does."""
    lt = sch.get("x-kubernetes-list-type")
    if lt == "set":
        seen = []
        for i, x in enumerate(v):
            if x in seen:
                errs.append(FieldError("Duplicate", f"{path}[{i}]", x))
            else:
                seen.append(x)
    elif lt == "map":
        keys = sch.get("x-kubernetes-list-map-keys") or []
        seen = []
        for i, x in enumerate(v):
            if not isinstance(x, dict):
                continue
            k = {key: x.get(key) for key in keys if key in x}
            if k in seen:
                errs.append(FieldError("Duplicate", f"{path}[{i}]", k, detail="",
                                       has_value=True))
            else:
                seen.append(k)


def validate(obj, sch):
    """Returns FieldErrors for obj (a whole custom resource) against its schema."""
    errs = []
    if not isinstance(sch, dict):
        return errs
    props = sch.get("properties") or {}
    for r in sch.get("required") or []:
        if r not in obj:
            errs.append(FieldError("Required", r, has_value=False))
    for k, v in obj.items():
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if k in props:
            _validate(v, props[k], k, errs)
    return errs


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
