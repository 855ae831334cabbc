"""A small YAML reader for apply-patch+yaml bodies: JSON, or block-style YAML with maps,
lists, plain/quoted scalars and JSON-style flow collections. Raises ValueError."""
import json
import re


def loads(text):
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = []
    for raw in text.splitlines():
        if raw.strip() in ("---", "...") and not lines:
            continue
        if raw.strip() == "---":
            break
        s = _strip_comment(raw)
        if s.strip():
            lines.append((len(s) - len(s.lstrip(" ")), s.strip()))
    if not lines:
        return None
    val, pos = _block(lines, 0, lines[0][0])
    if pos != len(lines):
        raise ValueError(f"unexpected content at line: {lines[pos][1]}")
    return val


def _strip_comment(s):
    out, q = "", None
    for i, ch in enumerate(s):
        if q:
            if ch == q:
                q = None
        elif ch in "\"'":
            q = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            break
        out += ch
    return out.rstrip()


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _scalar(s):
    if s.startswith('"'):
        return json.loads(s)
    if s.startswith("'"):
        if not s.endswith("'") or len(s) < 2:
            raise ValueError(f"bad quoted scalar {s}")
        return s[1:-1].replace("''", "'")
    if s.startswith("[") or s.startswith("{"):
        try:
            return json.loads(s)
        except ValueError:
            return _flow(s)
    if s in ("null", "~", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    return s


def _flow(s):
    # flow collections with plain scalars: quote bare words and parse as JSON
    out = re.sub(r'(?<=[\[{,:])\s*([^\s"\'\[\]{},:][^\[\]{},:]*?)\s*(?=[\]},:])',
                 lambda m: json.dumps(_scalar(m.group(1).strip())), s)
    return json.loads(out)


def _split_key(s):
    if s.startswith('"') or s.startswith("'"):
        q = s[0]
        end = s.index(q, 1)
        key = _scalar(s[:end + 1])
        rest = s[end + 1:]
        if not rest.startswith(":"):
            return None
        return key, rest[1:].strip()
    m = re.match(r"^([^:]+?):(\s+(.*))?$", s)
    if not m:
        return None
    return m.group(1), (m.group(3) or "").strip()


def _block(lines, pos, indent):
    if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
        return _list(lines, pos, indent)
    if _split_key(lines[pos][1]) is not None and not lines[pos][1].startswith(("[", "{")):
        return _map(lines, pos, indent)
    return _scalar(lines[pos][1]), pos + 1


def _value(lines, pos, indent, rest):
    if rest in ("|", "|-", ">", ">-"):
        parts = []
        while pos < len(lines) and lines[pos][0] > indent:
            parts.append(lines[pos][1])
            pos += 1
        joiner = "\n" if rest.startswith("|") else " "
        text = joiner.join(parts)
        return (text + "\n" if not rest.endswith("-") else text), pos
    if rest:
        return _scalar(rest), pos
    if pos < len(lines) and (lines[pos][0] > indent or
                             (lines[pos][0] == indent and lines[pos][1].startswith("-"))):
        return _block(lines, pos, lines[pos][0])
    return None, pos


def _map(lines, pos, indent):
    out = {}
    while pos < len(lines) and lines[pos][0] == indent:
        kv = _split_key(lines[pos][1])
        if kv is None or lines[pos][1].startswith("- "):
            break
        key, rest = kv
        val, pos = _value(lines, pos + 1, indent, rest)
        out[key] = val
    return out, pos


def _list(lines, pos, indent):
    out = []
    while pos < len(lines) and lines[pos][0] == indent and (
            lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
        item = lines[pos][1][1:].strip()
        if not item:
            val, pos = _value(lines, pos + 1, indent, "")
            out.append(val)
            continue
        sub_indent = indent + 2
        kv = _split_key(item) if not item.startswith(("[", "{", '"', "'")) else None
        if kv is not None:
            # a map starting on the dash line: re-parse with the dash replaced by spaces
            lines[pos] = (sub_indent, item)
            val, pos = _map(lines, pos, sub_indent)
            out.append(val)
        else:
            out.append(_scalar(item))
            pos += 1
    return out, pos
