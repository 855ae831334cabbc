"""Decoding of Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf) for
the few built-in kinds kubectl sends that way (kubectl create configmap/secret/namespace/
serviceaccount). Anything else is answered 415 so the client can use JSON."""
import base64
import datetime

MAGIC = b"k8s\x00"


class ProtoError(ValueError):
    pass


def _varint(buf, pos):
    out = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7
        if shift > 70:
            raise ProtoError("varint too long")


def fields(buf):
    """Yields (number, wiretype, value) with value an int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ProtoError("truncated field")
            val = buf[pos:pos + n]
            pos += n
        elif wt == 1:
            val = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            val = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wt}")
        yield num, wt, val


def _s(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


def _map_entry(v, value_bytes=False):
    k, x = "", b"" if value_bytes else ""
    for num, _, val in fields(v):
        if num == 1:
            k = _s(val)
        elif num == 2:
            x = val if value_bytes else _s(val)
    return k, x


def _time(v):
    secs = 0
    for num, _, val in fields(v):
        if num == 1:
            secs = val
    if not secs:
        return None
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _owner_ref(v):
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    out = {}
    for num, wt, val in fields(v):
        if num in names:
            out[names[num]] = _s(val)
        elif num == 6:
            out["controller"] = bool(val)
        elif num == 7:
            out["blockOwnerDeletion"] = bool(val)
    return out


def object_meta(buf):
    md = {}
    strs = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for num, wt, val in fields(buf):
        if num in strs:
            if val:
                md[strs[num]] = _s(val)
        elif num == 7 and val:
            md["generation"] = val
        elif num == 9:
            t = _time(val)
            if t:
                md["deletionTimestamp"] = t
        elif num == 11:
            k, x = _map_entry(val)
            md.setdefault("labels", {})[k] = x
        elif num == 12:
            k, x = _map_entry(val)
            md.setdefault("annotations", {})[k] = x
        elif num == 13:
            md.setdefault("ownerReferences", []).append(_owner_ref(val))
        elif num == 14:
            md.setdefault("finalizers", []).append(_s(val))
    return md


def _configmap(buf, obj):
    for num, wt, val in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(val)
        elif num == 2:
            k, x = _map_entry(val)
            obj.setdefault("data", {})[k] = x
        elif num == 3:
            k, x = _map_entry(val, True)
            obj.setdefault("binaryData", {})[k] = base64.b64encode(x).decode()
        elif num == 4:
            obj["immutable"] = bool(val)


def _secret(buf, obj):
    for num, wt, val in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(val)
        elif num == 2:
            k, x = _map_entry(val, True)
            obj.setdefault("data", {})[k] = base64.b64encode(x).decode()
        elif num == 3 and val:
            obj["type"] = _s(val)
        elif num == 4:
            k, x = _map_entry(val)
            obj.setdefault("stringData", {})[k] = x
        elif num == 5:
            obj["immutable"] = bool(val)


def _namespace(buf, obj):
    for num, wt, val in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(val)


def _serviceaccount(buf, obj):
    for num, wt, val in fields(buf):
        if num == 1:
            obj["metadata"] = object_meta(val)
        elif num == 3:
            ref = {}
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    ref["name"] = _s(v2)
            obj.setdefault("imagePullSecrets", []).append(ref)
        elif num == 4:
            obj["automountServiceAccountToken"] = bool(val)


DECODERS = {("v1", "ConfigMap"): _configmap, ("v1", "Secret"): _secret,
            ("v1", "Namespace"): _namespace, ("v1", "ServiceAccount"): _serviceaccount}


def decode(body):
    """Returns the object as a JSON-style dict; raises ProtoError if it cannot."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing protobuf envelope")
    api_version = kind = ""
    raw = b""
    for num, wt, val in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    api_version = _s(v2)
                elif n2 == 2:
                    kind = _s(v2)
        elif num == 2:
            raw = val
    dec = DECODERS.get((api_version, kind))
    if dec is None:
        raise ProtoError(f"protobuf bodies of {kind} ({api_version}) are not supported by the "
                         "stand-in; send JSON")
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    dec(raw, obj)
    return obj


# --- schema-driven decoding of workload kinds (kubectl create deployment/job/cronjob/...) ---
# Each message: {field number: (json name, kind, message name)}; kinds: s string, i integer,
# b bool, m message, map map<string,string>, rs repeated string, rm repeated message,
# meta ObjectMeta. Zero values are dropped, as Go's omitempty would for most fields.

def _f(name, kind, sub=None):
    return (name, kind, sub)


SCHEMAS = {
    "LabelSelector": {1: _f("matchLabels", "map"),
                      2: _f("matchExpressions", "rm", "LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: _f("key", "s"), 2: _f("operator", "s"),
                                 3: _f("values", "rs")},
    "PodTemplateSpec": {1: _f("metadata", "meta"), 2: _f("spec", "m", "PodSpec")},
    "PodSpec": {2: _f("containers", "rm", "Container"), 3: _f("restartPolicy", "s"),
                4: _f("terminationGracePeriodSeconds", "i"), 5: _f("activeDeadlineSeconds", "i"),
                6: _f("dnsPolicy", "s"), 7: _f("nodeSelector", "map"),
                8: _f("serviceAccountName", "s"), 10: _f("nodeName", "s"),
                11: _f("hostNetwork", "b"), 12: _f("hostPID", "b"), 13: _f("hostIPC", "b"),
                14: _f("securityContext", "m", "PodSecurityContext"),
                15: _f("imagePullSecrets", "rm", "LocalObjectReference"),
                16: _f("hostname", "s"), 17: _f("subdomain", "s"), 19: _f("schedulerName", "s"),
                20: _f("initContainers", "rm", "Container"),
                21: _f("automountServiceAccountToken", "b"), 24: _f("priorityClassName", "s")},
    "Container": {1: _f("name", "s"), 2: _f("image", "s"), 3: _f("command", "rs"),
                  4: _f("args", "rs"), 5: _f("workingDir", "s"),
                  6: _f("ports", "rm", "ContainerPort"), 7: _f("env", "rm", "EnvVar"),
                  13: _f("terminationMessagePath", "s"), 14: _f("imagePullPolicy", "s"),
                  15: _f("securityContext", "m", "SecurityContext"), 16: _f("stdin", "b"),
                  17: _f("stdinOnce", "b"), 18: _f("tty", "b"),
                  20: _f("terminationMessagePolicy", "s")},
    "ContainerPort": {1: _f("name", "s"), 2: _f("hostPort", "i"), 3: _f("containerPort", "i"),
                      4: _f("protocol", "s"), 5: _f("hostIP", "s")},
    "EnvVar": {1: _f("name", "s"), 2: _f("value", "s")},
    "LocalObjectReference": {1: _f("name", "s")},
    "SecurityContext": {1: _f("capabilities", "m", "Capabilities"), 2: _f("privileged", "b"),
                        4: _f("runAsUser", "i"), 5: _f("runAsNonRoot", "b"),
                        6: _f("readOnlyRootFilesystem", "b"),
                        7: _f("allowPrivilegeEscalation", "b"), 8: _f("runAsGroup", "i")},
    "Capabilities": {1: _f("add", "rs"), 2: _f("drop", "rs")},
    "PodSecurityContext": {2: _f("runAsUser", "i"), 3: _f("runAsNonRoot", "b"),
                           5: _f("fsGroup", "i"), 6: _f("runAsGroup", "i")},
    "DeploymentSpec": {1: _f("replicas", "i0"), 2: _f("selector", "m", "LabelSelector"),
                       3: _f("template", "m", "PodTemplateSpec"),
                       4: _f("strategy", "m", "DeploymentStrategy"),
                       5: _f("minReadySeconds", "i"), 6: _f("revisionHistoryLimit", "i"),
                       7: _f("paused", "b"), 9: _f("progressDeadlineSeconds", "i")},
    "DeploymentStrategy": {1: _f("type", "s")},
    "ReplicaSetSpec": {1: _f("replicas", "i0"), 2: _f("selector", "m", "LabelSelector"),
                       3: _f("template", "m", "PodTemplateSpec"), 4: _f("minReadySeconds", "i")},
    "StatefulSetSpec": {1: _f("replicas", "i0"), 2: _f("selector", "m", "LabelSelector"),
                        3: _f("template", "m", "PodTemplateSpec"), 5: _f("serviceName", "s")},
    "DaemonSetSpec": {1: _f("selector", "m", "LabelSelector"),
                      2: _f("template", "m", "PodTemplateSpec")},
    "JobSpec": {1: _f("parallelism", "i"), 2: _f("completions", "i"),
                3: _f("activeDeadlineSeconds", "i"), 4: _f("selector", "m", "LabelSelector"),
                5: _f("manualSelector", "b"), 6: _f("template", "m", "PodTemplateSpec"),
                7: _f("backoffLimit", "i"), 8: _f("ttlSecondsAfterFinished", "i")},
    "CronJobSpec": {1: _f("schedule", "s"), 2: _f("startingDeadlineSeconds", "i"),
                    3: _f("concurrencyPolicy", "s"), 4: _f("suspend", "b"),
                    5: _f("jobTemplate", "m", "JobTemplateSpec"),
                    6: _f("successfulJobsHistoryLimit", "i"),
                    7: _f("failedJobsHistoryLimit", "i"), 8: _f("timeZone", "s")},
    "JobTemplateSpec": {1: _f("metadata", "meta"), 2: _f("spec", "m", "JobSpec")},
    "ServiceSpec": {1: _f("ports", "rm", "ServicePort"), 2: _f("selector", "map"),
                    3: _f("clusterIP", "s"), 4: _f("type", "s")},
    "ServicePort": {1: _f("name", "s"), 2: _f("protocol", "s"), 3: _f("port", "i"),
                    4: _f("targetPort", "m", "IntOrString"), 5: _f("nodePort", "i")},
}


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def decode_message(buf, name):
    schema = SCHEMAS[name]
    out = {}
    for num, wt, val in fields(buf):
        spec = schema.get(num)
        if spec is None:
            continue
        key, kind, sub = spec
        if kind == "s":
            if val:
                out[key] = _s(val)
        elif kind in ("i", "i0"):
            if isinstance(val, int) and (val or kind == "i0"):
                out[key] = _signed(val)
        elif kind == "b":
            if val:
                out[key] = True
        elif kind == "m":
            if sub == "IntOrString":
                out[key] = _int_or_string(val)
            else:
                m = decode_message(val, sub)
                if m or sub in ("PodSpec",):
                    out[key] = m
        elif kind == "meta":
            md = object_meta(val)
            if md:
                out[key] = md
        elif kind == "map":
            k, x = _map_entry(val)
            out.setdefault(key, {})[k] = x
        elif kind == "rs":
            out.setdefault(key, []).append(_s(val))
        elif kind == "rm":
            out.setdefault(key, []).append(decode_message(val, sub))
    return out


def _int_or_string(buf):
    typ, iv, sv = 0, 0, ""
    for num, _, val in fields(buf):
        if num == 1:
            typ = val
        elif num == 2:
            iv = _signed(val)
        elif num == 3:
            sv = _s(val)
    return sv if typ == 1 else iv


def _workload(spec_name):
    def dec(buf, obj):
        for num, wt, val in fields(buf):
            if num == 1:
                obj["metadata"] = object_meta(val)
            elif num == 2:
                obj["spec"] = decode_message(val, spec_name)
    return dec


for _key, _spec in ((("apps/v1", "Deployment"), "DeploymentSpec"),
                    (("apps/v1", "ReplicaSet"), "ReplicaSetSpec"),
                    (("apps/v1", "StatefulSet"), "StatefulSetSpec"),
                    (("apps/v1", "DaemonSet"), "DaemonSetSpec"),
                    (("batch/v1", "Job"), "JobSpec"),
                    (("batch/v1", "CronJob"), "CronJobSpec"),
                    (("v1", "Pod"), "PodSpec"),
                    (("v1", "Service"), "ServiceSpec")):
    DECODERS[_key] = _workload(_spec)
