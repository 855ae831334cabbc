"""Small hostile HTTP servers for the registry client's security tests, run in the test process.

A Server answers every request with a function of the test (respond(server, handler) writes the
answer through the BaseHTTPRequestHandler) and records what it received: method, path and the
Authorization header, so a test can say whether credentials reached a host they were not meant
for. Helpers build the usual answers (json, a registry-style 401, a slow drip) and forward a
request to a real registry (proxy), so an attack can sit in front of a real docker-registry.
"""
import http.client
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer",
       "upgrade", "content-length"}


class Server:
    """A threaded HTTP (or, with tls=(cert, key), HTTPS) server on 127.0.0.1."""

    def __init__(self, tc, respond, tls=None):
        self.respond = respond
        self.received = []  # [{"method", "path", "auth"}]
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                with server.lock:
                    server.received.append({"method": self.command, "path": self.path,
                                            "auth": self.headers.get("Authorization")})
                try:
                    server.respond(server, self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hangs up is what these tests expect

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        tc.addCleanup(self.stop)

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self):
        with self.lock:
            return list(self.received)

    def with_auth(self):
        """The requests that carried an Authorization header."""
        return [r for r in self.requests() if r["auth"]]


def send(h, status, body=b"", headers=None, content_type="application/json"):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if body or h.command != "HEAD":
        h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def basic_challenge(h):
    """401 asking for Basic credentials unless the request carries some."""
    if h.headers.get("Authorization"):
        return False
    send(h, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
         {"WWW-Authenticate": 'Basic realm="hostile"'})
    return True


def drip(server, h, total_bytes=4096, bytes_per_s=2):
    """A 200 whose body arrives bytes_per_s bytes a second (until the client gives up)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(total_bytes))
    h.end_headers()
    for _ in range(total_bytes // bytes_per_s):
        if server.stopping.is_set():
            return
        h.wfile.write(b" " * bytes_per_s)
        h.wfile.flush()
        time.sleep(1)


def drip_headers(server, h, bytes_per_s=2, max_s=600):
    """A response whose status line comes at once and whose headers then arrive bytes_per_s
    bytes a second, never ending (a HEAD or a GET alike waits for them)."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    h.wfile.flush()
    for _ in range(max_s):
        if server.stopping.is_set():
            return
        h.wfile.write(b"a" * bytes_per_s)
        h.wfile.flush()
        time.sleep(1)


def proxy(h, upstream, body_filter=None, header_filter=None):
    """Forwards the request to upstream (host:port, plain http) and its answer back;
    body_filter(path, bytes) -> bytes may rewrite a 200 body, header_filter(name, value) ->
    value any response header."""
    conn = http.client.HTTPConnection(*upstream.split(":"), timeout=60)
    headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP}
    conn.request(h.command, h.path, body=h.body or None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if body_filter and resp.status == 200:
        data = body_filter(urllib.parse.urlsplit(h.path).path, data)
    h.send_response(resp.status, resp.reason)
    for k, v in resp.getheaders():
        if k.lower() not in HOP:
            h.send_header(k, header_filter(k, v) if header_filter else v)
    clen = resp.getheader("Content-Length") if h.command == "HEAD" else str(len(data))
    if clen is not None:
        h.send_header("Content-Length", clen)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)
    conn.close()
