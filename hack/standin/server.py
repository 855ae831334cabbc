"""HTTP layer: routing of the Kubernetes REST paths, lists, watches, tables, admin hooks and
the command line entry point."""
import argparse
import base64
import gzip
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import admission, discovery, errors, protobuf, selectors, table, tlsutil
from .api import Api
from .errors import ApiError

WATCH_DEFAULT_TIMEOUT = 1800
BOOKMARK_EVERY = 5.0
GZIP_MIN = 128 * 1024
MAX_BODY = 3 * 1024 * 1024      # kube-apiserver's request body limit


class State:
    """Server-wide settings and test-hook state."""

    def __init__(self, api, token=None, state_file=None):
        self.api = api
        self.token = token
        self.state_file = state_file
        self.lock = threading.Lock()
        self.fail_count = 0
        self.fail_code = 503
        self.latency_ms = 0
        self.latency_count = 0
        self.requests = []
        self.addr = ""


def _first(params, name, default=None):
    v = params.get(name)
    return v[-1] if v else default


def _encode_continue(rv, ns, name):
    raw = json.dumps({"rv": rv, "start": [ns, name]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        return int(d["rv"]), tuple(d["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: illegal base64 data at input byte "
                                 "0")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-standin"
    sys_version = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # one line per request is written by _log
        pass

    def _log(self, code, started, note=""):
        ms = (time.monotonic() - started) * 1000
        line = f"{self.command} {self.path} {code} {ms:.1f}ms{(' ' + note) if note else ''}"
        st = self.server.state
        with st.lock:
            st.requests.append({"method": self.command, "path": self.path, "code": code})
            if len(st.requests) > 2000:
                del st.requests[:1000]
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:
            pass

    # --- plumbing ------------------------------------------------------------------------------
    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                try:
                    n = int(line.strip().split(b";")[0], 16)
                except ValueError:
                    raise errors.bad_request("malformed chunked body")
                if n == 0:
                    self.rfile.readline()
                    return out
                if len(out) + n > MAX_BODY:
                    raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}",
                                   "RequestEntityTooLarge")
                out += self.rfile.read(n)
                self.rfile.readline()
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise errors.bad_request("invalid Content-Length")
        if n > MAX_BODY:
            left = n if n <= 16 * MAX_BODY else 0    # drain so the client reads the answer
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}",
                           "RequestEntityTooLarge")
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code, obj, headers=None, ctype="application/json"):
        data = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        if len(data) > GZIP_MIN and "gzip" in self.headers.get("Accept-Encoding", ""):
            # like kube-apiserver, compress large answers for clients that accept gzip
            data = gzip.compress(data, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return code

    def _send_error(self, err):
        return self._send(err.code, err.status(), err.headers)

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        started = time.monotonic()
        code = 500
        note = ""
        try:
            body = self._read_body()
        except ApiError as exc:
            self.close_connection = True
            code = self._send_error(exc)
            self._log(code, started)
            return
        except (ValueError, OSError):
            self.close_connection = True
            body = b""
        try:
            code = self._route(body)
            if isinstance(code, tuple):
                code, note = code
        except ApiError as exc:
            code = self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            code = 499
        except Exception as exc:  # never crash on bad input: answer 500 and keep serving
            import traceback
            traceback.print_exc(file=sys.stderr)
            try:
                code = self._send_error(ApiError(500, f"Internal error occurred: {exc!r}",
                                                 "InternalError"))
            except OSError:
                code = 500
        self._log(code, started, note)

    def _route(self, body):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query,
                                                             keep_blank_values=True).items()}
        if st.token is not None:
            scheme, _, tok = self.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or tok.strip() != st.token:
                raise ApiError(401, "Unauthorized", "Unauthorized")
        if path.startswith("/__standin/"):
            return self._admin(path[len("/__standin/"):], params)
        with st.lock:
            delay = 0
            if st.latency_count > 0:
                st.latency_count -= 1
                delay = st.latency_ms
            fail = 0
            if st.fail_count > 0:
                st.fail_count -= 1
                fail = st.fail_code
        if delay:
            time.sleep(delay / 1000.0)
        if fail:
            headers = {"Retry-After": "1"} if fail in (429, 503) else {}
            raise ApiError(fail, "injected failure (stand-in test hook)",
                           errors.REASONS.get(fail, "InternalError"), headers=headers)
        api = st.api
        parts = [p for p in path.split("/") if p]
        if self.command in ("GET", "HEAD"):
            if path == "/version" or path == "/version/":
                return self._send(200, discovery.VERSION)
            if path in ("/healthz", "/readyz", "/livez"):
                return self._send(200, b"ok", ctype="text/plain")
            if path == "/api":
                return self._send(200, discovery.api_versions(st.addr))
            if path == "/apis":
                return self._send(200, discovery.api_group_list(api.all_types()))
            if path == "/openapi/v2":
                return self._send(200, discovery.openapi_v2_protobuf(),
                                  ctype="application/octet-stream")
            if path == "/openapi/v3":
                return self._send(200, discovery.openapi_v3_index(api.all_types()))
            if path.startswith("/openapi/v3/"):
                gv = parts[2:]
                if len(gv) == 2 and gv[0] == "api":
                    return self._send(200, discovery.openapi_v3_doc(api.all_types(), "", gv[1]))
                if len(gv) == 3 and gv[0] == "apis":
                    return self._send(200, discovery.openapi_v3_doc(api.all_types(), gv[1],
                                                                    gv[2]))
                raise ApiError(404, "the server could not find the requested resource",
                               "NotFound")
            if parts == ["api", "v1"]:
                return self._send(200, discovery.resource_list(api.all_types(), "", "v1"))
            if len(parts) == 2 and parts[0] == "apis":
                g = discovery.api_group(api.all_types(), parts[1])
                if g:
                    return self._send(200, g)
            if len(parts) == 3 and parts[0] == "apis":
                rl = discovery.resource_list(api.all_types(), parts[1], parts[2])
                if rl:
                    return self._send(200, rl)
        return self._resource(parts, params, body)

    # --- admin hooks -----------------------------------------------------------------------------
    def _admin(self, what, params):
        st = self.server.state
        api = st.api
        if what == "drop-watches":
            return self._send(200, {"dropped": api.store.drop_watches()})
        if what == "compact":
            return self._send(200, {"resourceVersion": str(api.store.compact())})
        try:
            count = int(params.get("count", "1"))
            code = int(params.get("code", "503"))
            ms = int(params.get("ms", "100"))
        except ValueError:
            raise errors.bad_request("count, code and ms must be integers")
        if what == "fail":
            if not 400 <= code <= 599:
                raise errors.bad_request("code must be a 4xx or 5xx status")
            with st.lock:
                st.fail_count = count
                st.fail_code = code
            return self._send(200, {"count": st.fail_count, "code": st.fail_code})
        if what == "latency":
            with st.lock:
                st.latency_ms = ms
                st.latency_count = count
            return self._send(200, {"ms": st.latency_ms, "count": st.latency_count})
        if what == "snapshot":
            if not st.state_file:
                raise errors.bad_request("the stand-in was started without --state")
            api.store.save(st.state_file)
            return self._send(200, {"saved": st.state_file,
                                    "resourceVersion": str(api.store.rv)})
        if what == "stats":
            with api.lock:
                counts = {f"{k[1]}.{k[0]}" if k[0] else k[1]: len(v)
                          for k, v in api.store.objects.items() if v}
                return self._send(200, {"resourceVersion": str(api.store.rv),
                                        "watches": len(api.store.watchers), "objects": counts})
        if what == "requests":
            with st.lock:
                reqs = list(st.requests)
            return self._send(200, {"requests": reqs})
        raise ApiError(404, f"unknown admin hook {what}", "NotFound")

    # --- resources -------------------------------------------------------------------------------
    def _parse_resource_path(self, parts):
        api = self.server.state.api
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource", "NotFound",
                           {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": "404 page not found"}]})
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            ns = rest[1]
            rest = rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        rt = api.find(group, version, rest[0])
        if rt is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound",
                           {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": "404 page not found"}]})
        if ns is not None and not rt.namespaced:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and not (sub == "status" and rt.status):
            if not (rt.key == ("", "namespaces") and sub == "finalize"):
                raise ApiError(404, "the server could not find the requested resource",
                               "NotFound")
        return rt, version, ns, name, sub

    def _manager(self, params):
        m = params.get("fieldManager")
        if m:
            return m
        ua = self.headers.get("User-Agent", "") or "unknown"
        return ua.split("/", 1)[0][:128]

    def _wants_table(self):
        acc = self.headers.get("Accept", "")
        return "as=Table" in acc

    def _resource(self, parts, params, body):
        api = self.server.state.api
        rt, version, ns, name, sub = self._parse_resource_path(parts)
        m = self.command
        if rt.namespaced and ns is None and name is not None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        nsv = ns if rt.namespaced else None
        if m in ("GET", "HEAD"):
            if name is None:
                w = params.get("watch")
                if w is not None and w not in ("false", "0", "False"):
                    return self._watch(rt, version, nsv, params)
                return self._list(rt, version, nsv, params)
            obj = api.store.get(rt.key, nsv or "", name)
            if obj is None:
                raise errors.not_found(rt, name)
            obj = api.out(rt, obj, version)
            if self._wants_table():
                return self._send(200, table.table(rt, version, [obj],
                                                   params.get("includeObject", "Metadata")))
            return self._send(200, obj)
        manager = self._manager(params)
        if m == "POST":
            if name is not None:
                raise ApiError(405, "the server does not allow this method on the requested "
                               "resource", "MethodNotAllowed")
            if rt.namespaced and nsv is None:
                raise ApiError(404, "the server could not find the requested resource",
                               "NotFound")
            data = self._body_object(body)
            warnings = []
            obj = api.create(rt, nsv, data, params, version, manager, warnings)
            return self._send(201, api.out(rt, obj, version), self._warn(warnings))
        if m == "PUT":
            if name is None:
                raise ApiError(405, "the server does not allow this method on the requested "
                               "resource", "MethodNotAllowed")
            data = self._body_object(body)
            if rt.key == ("", "namespaces") and sub == "finalize":
                sub = None
            obj, warnings = api.update(rt, nsv or "", name, data, params, version, sub, manager)
            return self._send(200, api.out(rt, obj, version), self._warn(warnings))
        if m == "PATCH":
            if name is None:
                raise ApiError(405, "the server does not allow this method on the requested "
                               "resource", "MethodNotAllowed")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            obj, warnings = api.patch(rt, nsv or "", name, ctype, body, params, version, sub,
                                      manager)
            return self._send(200, api.out(rt, obj, version),
                              self._warn(warnings))
        if m == "DELETE":
            opts = {}
            if body.strip():
                opts = self._json(body)
            if name is None:
                return self._delete_collection(rt, version, nsv, params, opts)
            obj, gone = api.delete(rt, nsv or "", name, opts, params, version)
            if gone:
                md = obj["metadata"]
                return self._send(200, errors.success_status(
                    {"name": name, "group": rt.group, "kind": rt.plural, "uid": md.get("uid")}))
            return self._send(200, api.out(rt, obj, version))
        raise ApiError(405, "the server does not allow this method on the requested resource",
                       "MethodNotAllowed")

    @staticmethod
    def _warn(warnings):
        if not warnings:
            return {}
        return {"Warning": [f'299 - {json.dumps(w)}' for w in warnings]}

    def _body_object(self, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(415, f"the body of the request was in an unknown format - "
                               f"accepted media types include: application/json, "
                               f"application/yaml ({exc})", "UnsupportedMediaType")
        return self._json(body)

    @staticmethod
    def _json(body):
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"Object 'Kind' is missing in '{body[:100]!r}': {exc}")
        if data is None:
            raise errors.bad_request("Object 'Kind' is missing in request body")
        if not isinstance(data, dict):
            raise errors.bad_request("json: cannot unmarshal array into Go value of type "
                                     "struct { APIVersion string \"json:\\\"apiVersion,omitempty"
                                     "\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
        return data

    def _select(self, rt, nsv, params):
        api = self.server.state.api
        lreq = selectors.parse_labels(params.get("labelSelector", ""))
        freq = selectors.parse_fields(params.get("fieldSelector", ""))
        items, rv = api.store.items(rt.key, nsv)
        out = []
        for k, o in items:
            md = o.get("metadata") or {}
            if selectors.match_labels(lreq, md.get("labels")) and \
                    selectors.match_fields(freq, o):
                out.append((k, o))
        return out, rv

    def _list(self, rt, version, nsv, params):
        api = self.server.state.api
        items, rv = self._select(rt, nsv, params)
        cont = params.get("continue")
        if cont:
            crv, start = _decode_continue(cont)
            if api.store.too_old(crv) and crv < api.store.compacted:
                raise ApiError(410, "The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the "
                               "continue parameter, or use the continue token in this response "
                               "to retrieve the remainder of the results. Continuing with the "
                               "provided token results in an inconsistent list - objects that "
                               "were created, modified, or deleted between the time the first "
                               "chunk was returned and now may show up in the list.", "Expired")
            items = [(k, o) for k, o in items if k > start]
            rv = crv
        limit = params.get("limit")
        next_tok = None
        remaining = None
        try:
            limit = int(limit) if limit else 0
        except ValueError:
            limit = 0
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = items[-1][0]
            next_tok = _encode_continue(rv, last[0], last[1])
        objs = [api.out(rt, o, version) for _, o in items]
        if self._wants_table():
            return self._send(200, table.table(rt, version, objs,
                                               params.get("includeObject", "Metadata"), rv,
                                               next_tok))
        md = {"resourceVersion": str(rv)}
        if next_tok:
            md["continue"] = next_tok
            md["remainingItemCount"] = remaining
        return self._send(200, {"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                                "metadata": md, "items": objs})

    def _delete_collection(self, rt, version, nsv, params, opts):
        api = self.server.state.api
        items, _ = self._select(rt, nsv, params)
        deleted = []
        for k, o in items:
            try:
                obj, gone = api.delete(rt, k[0], k[1], opts, params, version)
                deleted.append(api.out(rt, obj, version))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return self._send(200, {"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                                "metadata": {"resourceVersion": str(api.store.rv)},
                                "items": deleted})

    # --- watch -----------------------------------------------------------------------------------
    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                if isinstance(self.connection, ssl.SSLSocket):
                    self.connection.settimeout(0.05)
                    try:
                        data = self.connection.recv(1)
                    except (socket.timeout, ssl.SSLWantReadError):
                        return False
                    finally:
                        self.connection.settimeout(None)
                else:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                return data == b""
        except (OSError, ValueError, ssl.SSLError):
            return True
        return False

    def _watch(self, rt, version, nsv, params):
        api = self.server.state.api
        lreq = selectors.parse_labels(params.get("labelSelector", ""))
        freq = selectors.parse_fields(params.get("fieldSelector", ""))
        rvp = params.get("resourceVersion")
        start_rv = None
        if rvp not in (None, "", "0"):
            try:
                start_rv = int(rvp)
            except ValueError:
                raise errors.bad_request(f'invalid resource version: "{rvp}"')
        try:
            timeout = float(params.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
        except ValueError:
            timeout = WATCH_DEFAULT_TIMEOUT
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1", "True")
        as_table = self._wants_table()
        initial = params.get("sendInitialEvents") in ("true", "1", "True")
        if initial:
            start_rv = None
        w = api.store.watch(rt.key, nsv, lreq, freq, start_rv)
        if w is not None and initial:
            with api.lock:
                w.push("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version(version),
                                    "metadata": {"resourceVersion": str(api.store.rv),
                                                 "annotations": {
                                                     "k8s.io/initial-events-end": "true"}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        if w is None:
            ev = {"type": "ERROR", "object": errors.status_obj(
                410, f"too old resource version: {start_rv} ({api.store.compacted})", "Expired")}
            self._chunk(json.dumps(ev, separators=(",", ":")).encode() + b"\n")
            self._chunk(b"")
            return 200, "watch expired"
        deadline = time.monotonic() + timeout
        last_write = time.monotonic()
        first_table = True
        sent = 0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ev = w.next(min(left, 1.0))
                if ev == "closed":
                    break
                if ev is None:
                    if self._client_gone():
                        break
                    if bookmarks and time.monotonic() - last_write >= BOOKMARK_EVERY:
                        with api.lock:
                            if w.events:
                                continue
                            brv = str(api.store.rv)
                        obj = {"kind": rt.kind, "apiVersion": rt.api_version(version),
                               "metadata": {"resourceVersion": brv}}
                        self._chunk(json.dumps({"type": "BOOKMARK", "object": obj},
                                               separators=(",", ":")).encode() + b"\n")
                        last_write = time.monotonic()
                    continue
                etype, obj = ev
                if etype == "BOOKMARK":
                    self._chunk(json.dumps({"type": etype, "object": obj},
                                           separators=(",", ":")).encode() + b"\n")
                    last_write = time.monotonic()
                    continue
                obj = api.out(rt, obj, version)
                if as_table:
                    obj = table.table(rt, version, [obj],
                                      params.get("includeObject", "Metadata"),
                                      obj["metadata"].get("resourceVersion"),
                                      with_defs=first_table)
                    first_table = False
                self._chunk(json.dumps({"type": etype, "object": obj},
                                       separators=(",", ":")).encode() + b"\n")
                sent += 1
                last_write = time.monotonic()
            self._chunk(b"")
        except (OSError, ValueError):
            pass
        finally:
            api.store.unwatch(w)
        return 200, f"watch ended after {sent} events"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def write_kubeconfig(path, server_url, ca_pem=None, token=None):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: standin", "  cluster:",
             f"    server: {server_url}"]
    if ca_pem:
        lines.append("    certificate-authority-data: " +
                     base64.b64encode(ca_pem.encode()).decode())
    lines += ["contexts:", "- name: standin", "  context:", "    cluster: standin",
              "    user: standin", "    namespace: default", "current-context: standin",
              "preferences: {}", "users:", "- name: standin"]
    if token:
        lines += ["  user:", f"    token: {token}"]
    else:
        lines += ["  user: {}"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kube-standin",
                                 description="Local stand-in for the Kubernetes API server.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--kubeconfig", required=True, help="kubeconfig to write once serving")
    ap.add_argument("--tls", action="store_true", help="serve HTTPS and require a token")
    ap.add_argument("--token", help="bearer token to require (generated with --tls)")
    ap.add_argument("--state", help="snapshot file: loaded at start, saved on exit")
    ap.add_argument("--admission-service-host", help="HOST:PORT for webhook services")
    ap.add_argument("--admission-client-cert", nargs=2, metavar=("CERT", "KEY"),
                    help="client certificate and key presented to admission webhooks")
    args = ap.parse_args(argv)
    if args.admission_client_cert:
        admission.CLIENT_CERT = tuple(args.admission_client_cert)

    api = Api(service_host=args.admission_service_host)
    if args.state and os.path.exists(args.state):
        api.store.load(args.state)
        api.rebuild_types()
    token = args.token
    if args.tls and not token:
        token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
    state = State(api, token=token, state_file=args.state)
    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.state = state
    port = httpd.server_address[1]
    state.addr = f"127.0.0.1:{port}"
    out = os.path.abspath(args.kubeconfig)
    ca_pem = None
    if args.tls:
        pki = out + ".pki"
        ca_pem, cert, key = tlsutil.make_pki(pki)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)
        sa = out + ".serviceaccount"
        os.makedirs(sa, exist_ok=True)
        for fname, content in (("token", token), ("ca.crt", ca_pem), ("namespace", "default")):
            with open(os.path.join(sa, fname + ".tmp"), "w") as f:
                f.write(content)
            os.replace(os.path.join(sa, fname + ".tmp"), os.path.join(sa, fname))
    api.ca_pem = ca_pem
    api.bootstrap()
    scheme = "https" if args.tls else "http"
    write_kubeconfig(out, f"{scheme}://127.0.0.1:{port}", ca_pem, token)
    sys.stderr.write(f"kube-standin serving on {scheme}://127.0.0.1:{port} "
                     f"(kubeconfig {out})\n")
    sys.stderr.flush()

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        if args.state:
            api.store.save(args.state)
            sys.stderr.write(f"kube-standin: state saved to {args.state}\n")
        httpd.server_close()
    return 0
