"""Server-side printing: meta.k8s.io/v1 Table answers for kubectl get."""
import datetime
import json
import re


def human_duration(seconds):
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y" if days % 365 == 0 else f"{days // 365}y{days % 365}d"
    return f"{days // 365}y"


def age(ts):
    if not isinstance(ts, str) or not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


_SEG = re.compile(r"\.([A-Za-z0-9_\-/$@]+)|\[(\*|-?\d+)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*(==|!=)\s*"
                  r"(\"[^\"]*\"|'[^']*'|[^)]*)\)\]|\['([^']*)'\]")


def jsonpath(obj, expr):
    """Evaluates the simple JSONPath forms CRD printer columns use; returns a list."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    cur = [obj]
    pos = 0
    while pos < len(expr):
        m = _SEG.match(expr, pos)
        if not m:
            return []
        pos = m.end()
        nxt = []
        for c in cur:
            if m.group(1) is not None or m.group(6) is not None:
                key = m.group(1) if m.group(1) is not None else m.group(6)
                if isinstance(c, dict) and key in c:
                    nxt.append(c[key])
            elif m.group(2) is not None:
                if isinstance(c, list):
                    if m.group(2) == "*":
                        nxt.extend(c)
                    else:
                        i = int(m.group(2))
                        if -len(c) <= i < len(c):
                            nxt.append(c[i])
                elif isinstance(c, dict) and m.group(2) == "*":
                    nxt.extend(c.values())
            else:
                field, op, lit = m.group(3), m.group(4), m.group(5).strip()
                if lit[:1] in "\"'":
                    lit = lit[1:-1]
                for item in (c if isinstance(c, list) else []):
                    v = item
                    for part in field.split("."):
                        v = v.get(part) if isinstance(v, dict) else None
                    sv = _fmt(v) if v is not None else None
                    if (op == "==" and sv == lit) or (op == "!=" and sv != lit):
                        nxt.append(item)
        cur = nxt
    return cur


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _cell(values, typ):
    if not values:
        return None
    v = values[0]
    if typ == "date":
        return age(v) if isinstance(v, str) else None
    if typ == "integer" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    if typ == "number" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    if typ == "boolean" and isinstance(v, bool):
        return v
    if len(values) > 1:
        return ",".join(_fmt(x) for x in values)
    return _fmt(v)


NAME_COL = {"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace. Is required when creating "
                           "resources, although some resources may allow a client to request "
                           "the generation of an appropriate name automatically. Name is "
                           "primarily intended for creation idempotence and configuration "
                           "definition. Cannot be updated."}
AGE_COL = {"name": "Age", "type": "string", "format": "", "priority": 0,
           "description": "CreationTimestamp is a timestamp representing the server time when "
                          "this object was created."}


def _col(name, typ="string", priority=0, desc=""):
    return {"name": name, "type": typ, "format": "", "priority": priority, "description": desc}


def _pod_ready(o):
    cs = (o.get("status") or {}).get("containerStatuses") or []
    n = len((o.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for c in cs if c.get('ready'))}/{n}"


def _lease_holder(o):
    return (o.get("spec") or {}).get("holderIdentity") or ""


def _deploy_ready(o):
    st = o.get("status") or {}
    return f"{st.get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}"


BUILTIN_COLUMNS = {
    ("", "configmaps"): [(_col("Data", "integer"), lambda o: len(o.get("data") or {}) +
                          len(o.get("binaryData") or {}))],
    ("", "secrets"): [(_col("Type"), lambda o: o.get("type") or "Opaque"),
                      (_col("Data", "integer"), lambda o: len(o.get("data") or {}))],
    ("", "namespaces"): [(_col("Status"), lambda o: (o.get("status") or {}).get("phase",
                                                                               "Active"))],
    ("", "pods"): [(_col("Ready"), _pod_ready),
                   (_col("Status"), lambda o: (o.get("status") or {}).get("phase", "Pending")),
                   (_col("Restarts", "string"), lambda o: "0")],
    ("coordination.k8s.io", "leases"): [(_col("Holder"), _lease_holder)],
    ("apps", "deployments"): [(_col("Ready"), _deploy_ready)],
    ("", "serviceaccounts"): [(_col("Secrets", "integer"),
                               lambda o: len(o.get("secrets") or []))],
}


def _event_last_seen(o):
    ts = o.get("lastTimestamp") or (o.get("series") or {}).get("lastObservedTime") or \
        o.get("eventTime") or (o.get("metadata") or {}).get("creationTimestamp")
    return age(ts)


def _event_object(o):
    ref = o.get("involvedObject") or o.get("regarding") or {}
    return f"{(ref.get('kind') or '').lower()}/{ref.get('name', '')}"


def _name(o):
    return (o.get("metadata") or {}).get("name", "")


# kinds whose table does not start with Name (full column lists)
FULL_COLUMNS = {
    ("", "events"): [(_col("Last Seen"), _event_last_seen),
                     (_col("Type"), lambda o: o.get("type", "")),
                     (_col("Reason"), lambda o: o.get("reason", "")),
                     (_col("Object"), _event_object),
                     (_col("Message"), lambda o: o.get("message") or o.get("note") or ""),
                     (dict(NAME_COL, priority=1), _name)],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        (NAME_COL, _name),
        (_col("Created At", "date"), lambda o: (o.get("metadata") or {}).get(
            "creationTimestamp"))],
}
FULL_COLUMNS[("events.k8s.io", "events")] = FULL_COLUMNS[("", "events")]


def columns_for(rt, version):
    """Returns [(columnDefinition, fn(obj) -> cell)] after the Name column."""
    if not rt.builtin:
        cols = rt.columns.get(version) or rt.columns.get(rt.version) or []
        if cols:
            out = []
            for c in cols:
                d = {"name": c.get("name", ""), "type": c.get("type", "string"),
                     "format": c.get("format", ""), "description": c.get("description", ""),
                     "priority": c.get("priority", 0)}
                if d["type"] == "date":
                    d["type"] = "date"
                path, typ = c.get("jsonPath", ""), c.get("type", "string")
                out.append((d, lambda o, p=path, t=typ: _cell(jsonpath(o, p), t)))
            return out
    extra = BUILTIN_COLUMNS.get(rt.key, [])
    return extra + [(AGE_COL, lambda o: age((o.get("metadata") or {}).get("creationTimestamp")))]


def partial(o, api_version, kind):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata") or {}}


def table(rt, version, objs, include="Metadata", rv=None, cont=None, with_defs=True):
    full = FULL_COLUMNS.get(rt.key) if rt.builtin else None
    cols = full if full else columns_for(rt, version)
    rows = []
    for o in objs:
        cells = [] if full else [(o.get("metadata") or {}).get("name", "")]
        for _, fn in cols:
            try:
                cells.append(fn(o))
            except Exception:  # a printer column must never break a list
                cells.append(None)
        row = {"cells": cells}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = partial(o, rt.api_version(version), rt.kind)
        rows.append(row)
    md = {}
    if rv is not None:
        md["resourceVersion"] = str(rv)
    if cont:
        md["continue"] = cont
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md, "rows": rows}
    t["columnDefinitions"] = ([] if full else [NAME_COL]) + [d for d, _ in cols] \
        if with_defs else []
    return t
