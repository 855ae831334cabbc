"""Kubernetes Status objects and the exception the handlers raise to return one."""

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """An error answered to the client as a Status object."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASONS.get(code, "")
        self.details = details
        self.headers = headers or {}

    def status(self):
        return status_obj(self.code, self.message, self.reason, self.details)


def status_obj(code, message, reason, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def success_status(details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        s["details"] = details
    return s


def qualified(resource, group):
    return f"{resource}.{group}" if group else resource


def not_found(rt, name):
    return ApiError(404, f'{qualified(rt.plural, rt.group)} "{name}" not found', "NotFound",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def namespace_not_found(name):
    return ApiError(404, f'namespaces "{name}" not found', "NotFound",
                    {"name": name, "kind": "namespaces"})


def already_exists(rt, name):
    return ApiError(409, f'{qualified(rt.plural, rt.group)} "{name}" already exists',
                    "AlreadyExists", {"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name, msg=None):
    msg = msg or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, f'Operation cannot be fulfilled on {qualified(rt.plural, rt.group)} '
                    f'"{name}": {msg}', "Conflict",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def bad_request(msg):
    return ApiError(400, msg, "BadRequest")


def gone(msg):
    return ApiError(410, msg, "Expired")


class FieldError:
    """One field.Error as kube-apiserver formats it."""

    def __init__(self, kind, field, value=None, detail="", supported=None, has_value=True):
        self.kind = kind            # Required, Invalid, NotSupported, TypeInvalid, TooLong, ...
        self.field = field
        self.value = value
        self.detail = detail
        self.supported = supported
        self.has_value = has_value

    REASON = {"Required": "FieldValueRequired", "Invalid": "FieldValueInvalid",
              "NotSupported": "FieldValueNotSupported", "TypeInvalid": "FieldValueTypeInvalid",
              "TooLong": "FieldValueTooLong", "TooMany": "FieldValueTooMany",
              "Forbidden": "FieldValueForbidden", "Duplicate": "FieldValueDuplicate"}
    LABEL = {"Required": "Required value", "Invalid": "Invalid value",
             "NotSupported": "Unsupported value", "TypeInvalid": "Invalid value",
             "TooLong": "Too long", "TooMany": "Too many", "Forbidden": "Forbidden",
             "Duplicate": "Duplicate value"}

    def body(self):
        label = self.LABEL[self.kind]
        if self.kind in ("Required", "Forbidden", "TooLong"):
            return label + (": " + self.detail if self.detail else "")
        s = label
        if self.has_value:
            s += ": " + go_value(self.value)
        if self.kind == "NotSupported" and self.supported is not None:
            s += ": supported values: " + ", ".join(go_quote(v) for v in self.supported)
        elif self.detail:
            s += ": " + self.detail
        return s

    def __str__(self):
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def cause(self):
        return {"reason": self.REASON[self.kind], "message": self.body(), "field": self.field}


def go_quote(v):
    if isinstance(v, str):
        out = '"'
        for ch in v:
            if ch == '"':
                out += '\\"'
            elif ch == "\\":
                out += "\\\\"
            elif ch == "\n":
                out += "\\n"
            elif ch == "\t":
                out += "\\t"
            elif ord(ch) < 32:
                out += "\\x%02x" % ord(ch)
            else:
                out += ch
        return out + '"'
    return go_value(v)


def go_value(v):
    """Formats a value the way field.Error does (%q for strings, %v for numbers)."""
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        import json
        inner = ", ".join(f"{json.dumps(k)}:{go_value(x)}" for k, x in v.items())
        return "map[string]interface {}{" + inner + "}"
    if isinstance(v, list):
        return '"array"'
    return go_quote(str(v))


def invalid(kind, group, name, errs):
    qk = f"{kind}.{group}" if group else kind
    if len(errs) == 1:
        agg = str(errs[0])
    else:
        agg = "[" + ", ".join(str(e) for e in errs) + "]"
    return ApiError(422, f'{qk} "{name}" is invalid: {agg}', "Invalid",
                    {"name": name, "group": group, "kind": kind,
                     "causes": [e.cause() for e in errs]})
