"""Label and field selectors (the string forms kube-apiserver accepts in list/watch)."""
from .errors import bad_request


def _split_terms(s):
    terms, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur.strip())
    return terms


def parse_labels(s):
    """Returns a list of (key, op, values) requirements; raises ApiError 400 if malformed."""
    reqs = []
    if not s:
        return reqs
    for t in _split_terms(s):
        low = t
        for op in (" notin ", " in "):
            i = low.find(op)
            if i > 0:
                key = t[:i].strip()
                rest = t[i + len(op):].strip()
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise bad_request(f"unable to parse requirement: found '{rest}', "
                                      "expected: '('")
                vals = [v.strip() for v in rest[1:-1].split(",") if v.strip()]
                reqs.append((key, op.strip(), vals))
                break
        else:
            if "!=" in t:
                k, v = t.split("!=", 1)
                reqs.append((k.strip(), "!=", [v.strip()]))
            elif "==" in t:
                k, v = t.split("==", 1)
                reqs.append((k.strip(), "=", [v.strip()]))
            elif "=" in t:
                k, v = t.split("=", 1)
                reqs.append((k.strip(), "=", [v.strip()]))
            elif t.startswith("!"):
                reqs.append((t[1:].strip(), "!", []))
            else:
                reqs.append((t.strip(), "exists", []))
        key = reqs[-1][0]
        if not key or any(c in key for c in " ()!=<>"):
            raise bad_request(f"unable to parse requirement: invalid label key \"{key}\"")
    return reqs


def match_labels(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and v != vals[0]:
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
    return True


def parse_fields(s):
    reqs = []
    if not s:
        return reqs
    for t in s.split(","):
        t = t.strip()
        if not t:
            continue
        if "!=" in t:
            k, v = t.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in t:
            k, v = t.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in t:
            k, v = t.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        else:
            raise bad_request(f"invalid selector: '{s}'; can't understand '{t}'")
    return reqs


def _field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(reqs, obj):
    for key, op, val in reqs:
        v = _field_value(obj, key)
        if op == "=" and v != val:
            return False
        if op == "!=" and v == val:
            return False
    return True
