"""Validating admission webhooks: ValidatingWebhookConfiguration rules, AdmissionReview v1
calls over HTTPS (verified against caBundle), timeouts and failurePolicy."""
import base64
import http.client
import ipaddress
import json
import socket
import ssl
import tempfile
import os
import uuid

from .errors import ApiError

EXEMPT_GROUPS = {"admissionregistration.k8s.io"}


def match_selector(sel, labels):
    """metav1.LabelSelector semantics; an empty or missing selector matches everything."""
    if not isinstance(sel, dict):
        return True
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        if not isinstance(e, dict):
            continue
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def _rule_matches(rule, op, rt, version, subresource):
    def has(lst, v):
        return isinstance(lst, list) and ("*" in lst or v in lst)
    if not has(rule.get("operations"), op):
        return False
    if not has(rule.get("apiGroups"), rt.group):
        return False
    if not has(rule.get("apiVersions"), version):
        return False
    want = rt.plural + ("/" + subresource if subresource else "")
    ok = False
    for r in rule.get("resources") or []:
        if r == want or r == "*/*" or (r == "*" and not subresource) or \
                (subresource and r in ("*/" + subresource, rt.plural + "/*")):
            ok = True
    if not ok:
        return False
    scope = rule.get("scope", "*")
    if scope == "Namespaced" and not rt.namespaced:
        return False
    if scope == "Cluster" and rt.namespaced:
        return False
    return True


def _host_ok(cert, host):
    sans = cert.get("subjectAltName", ())
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for typ, val in sans:
        if ip is not None and typ == "IP Address":
            try:
                if ipaddress.ip_address(val.strip()) == ip:
                    return True
            except ValueError:
                pass
        if ip is None and typ == "DNS":
            val = val.lower()
            h = host.lower()
            if val == h or (val.startswith("*.") and h.split(".", 1)[-1] == val[2:]):
                return True
    return False


class WebhookCallError(Exception):
    pass


# (certificate file, key file) the stand-in presents to webhooks, as kube-apiserver does with
# the client-certificate / client-key of its AdmissionConfiguration kubeconfig; None = none.
CLIENT_CERT = None


def _post(url_host, port, path, server_names, ca_pem, body, timeout):
    """POSTs body over HTTPS; the peer certificate must chain to ca_pem (or the system CAs)
    and name one of server_names. Returns the decoded JSON answer."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    if ca_pem:
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
            f.write(ca_pem)
            ca_path = f.name
        try:
            ctx = ssl.create_default_context(cafile=ca_path)
            ctx.check_hostname = False
        finally:
            os.unlink(ca_path)
    if CLIENT_CERT:
        ctx.load_cert_chain(CLIENT_CERT[0], CLIENT_CERT[1])
    conn = http.client.HTTPSConnection(url_host, port, timeout=timeout, context=ctx)
    try:
        conn.connect()
        cert = conn.sock.getpeercert()
        if not any(_host_ok(cert, n) for n in server_names):
            raise WebhookCallError(f"tls: failed to verify certificate: x509: certificate is not "
                                   f"valid for {server_names[0]}")
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                       "Accept": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise WebhookCallError(f"expected response code 200, got {resp.status}")
        return json.loads(data)
    except ssl.SSLError as exc:
        raise WebhookCallError(f"tls: failed to verify certificate: {exc.reason or exc}")
    except (socket.timeout, TimeoutError):
        raise WebhookCallError("context deadline exceeded")
    except ConnectionRefusedError:
        raise WebhookCallError(f"dial tcp {url_host}:{port}: connect: connection refused")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise WebhookCallError(str(exc))
    finally:
        conn.close()


def run_validating(configs, service_host, op, rt, version, subresource, obj, old, ns_labels,
                   name, namespace, user="system:admin"):
    """Calls every matching webhook; raises ApiError on a denial or a failed Fail-policy call.
    Returns the warnings the webhooks sent."""
    if rt.group in EXEMPT_GROUPS:
        return []
    warnings = []
    for cfg in configs:
        for wh in cfg.get("webhooks") or []:
            if not isinstance(wh, dict):
                continue
            rules = wh.get("rules") or []
            if not any(isinstance(r, dict) and _rule_matches(r, op, rt, version, subresource)
                       for r in rules):
                continue
            if rt.namespaced and not match_selector(wh.get("namespaceSelector"), ns_labels):
                continue
            target = obj if obj is not None else old
            if not match_selector(wh.get("objectSelector"),
                                  ((target or {}).get("metadata") or {}).get("labels")):
                continue
            warnings += _call(wh, service_host, op, rt, version, subresource, obj, old, name,
                              namespace, user)
    return warnings


def _call(wh, service_host, op, rt, version, subresource, obj, old, name, namespace, user):
    whname = wh.get("name", "")
    policy = wh.get("failurePolicy", "Fail")
    timeout = wh.get("timeoutSeconds", 10) or 10
    cc = wh.get("clientConfig") or {}
    uid = str(uuid.uuid4())
    req = {"uid": uid,
           "kind": {"group": rt.group, "version": version, "kind": rt.kind},
           "resource": {"group": rt.group, "version": version, "resource": rt.plural},
           "requestKind": {"group": rt.group, "version": version, "kind": rt.kind},
           "requestResource": {"group": rt.group, "version": version, "resource": rt.plural},
           "name": name, "operation": op,
           "userInfo": {"username": user, "groups": ["system:masters", "system:authenticated"]},
           "object": obj, "oldObject": old, "dryRun": False,
           "options": {"kind": {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions",
                                "DELETE": "DeleteOptions"}.get(op, "CreateOptions"),
                       "apiVersion": "meta.k8s.io/v1"}}
    if subresource:
        req["subResource"] = subresource
    if rt.namespaced:
        req["namespace"] = namespace
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}
    ca = None
    if cc.get("caBundle"):
        try:
            ca = base64.b64decode(cc["caBundle"]).decode()
        except (ValueError, UnicodeDecodeError):
            ca = None
    try:
        if cc.get("url"):
            from urllib.parse import urlsplit
            u = urlsplit(cc["url"])
            if u.scheme != "https":
                raise WebhookCallError("webhook URL must use https")
            host, port = u.hostname, u.port or 443
            path = u.path or "/"
            if u.query:
                path += "?" + u.query
            display = cc["url"]
            names = [host]
        elif isinstance(cc.get("service"), dict):
            svc = cc["service"]
            sname, sns = svc.get("name", ""), svc.get("namespace", "")
            path = svc.get("path") or "/"
            port = svc.get("port", 443)
            display = f"https://{sname}.{sns}.svc:{port}{path}"
            if not service_host:
                raise WebhookCallError(f'service "{sname}" not found')
            host, _, p = service_host.rpartition(":")
            port = int(p)
            names = [f"{sname}.{sns}.svc", host]
        else:
            raise WebhookCallError("no clientConfig url or service")
        try:
            answer = _post(host, port, path, names, ca, json.dumps(review).encode(), timeout)
        except WebhookCallError as exc:
            raise WebhookCallError(f'failed to call webhook: Post "{display}": {exc}')
        resp = answer.get("response") if isinstance(answer, dict) else None
        if not isinstance(resp, dict):
            raise WebhookCallError("received invalid webhook response: response is nil")
        if resp.get("uid") != uid:
            raise WebhookCallError(f"expected response.uid=\"{uid}\", got \"{resp.get('uid')}\"")
    except WebhookCallError as exc:
        if policy == "Ignore":
            return []
        raise ApiError(500, f'Internal error occurred: failed calling webhook "{whname}": {exc}',
                       "InternalError", {"causes": [{"message": f'failed calling webhook '
                                                     f'"{whname}": {exc}'}]})
    warnings = [w for w in resp.get("warnings") or [] if isinstance(w, str)]
    if resp.get("allowed") is True:
        return warnings
    st = resp.get("status") if isinstance(resp.get("status"), dict) else {}
    code = st.get("code") if isinstance(st.get("code"), int) and st.get("code") >= 400 else 403
    denied = f'admission webhook "{whname}" denied the request'
    if st.get("message"):
        msg = f"{denied}: {st['message']}"
    elif st.get("reason"):
        msg = f"{denied}: {st['reason']}"
    else:
        msg = f"{denied} without explanation"
    reason = st.get("reason") or ("Forbidden" if code == 403 else "")
    err = ApiError(code, msg, reason, st.get("details"))
    err.warnings = warnings
    raise err
