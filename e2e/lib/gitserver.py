"""Git servers for end-to-end tests: `git daemon` (git://) and `git http-backend` behind a small
CGI server with Basic auth (http://). Both serve bare repositories under a base directory."""
import base64
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import procs

GIT = "git"
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def git(*args, cwd=None, check=True):
    env = dict(os.environ, GIT_AUTHOR_NAME="e2e", GIT_AUTHOR_EMAIL="e2e@example.com",
               GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@example.com")
    return procs.run([GIT, *args], check=check, env=env) if cwd is None else \
        subprocess.run([GIT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       check=check)


class Repo:
    """A bare repository <base>/<name>.git plus a working clone to commit from."""

    def __init__(self, base, name):
        self.bare = os.path.join(base, f"{name}.git")
        self.work = os.path.join(base, f"{name}-work")
        git("init", "-q", "--bare", "-b", "main", self.bare)
        git("init", "-q", "-b", "main", self.work)
        git("remote", "add", "origin", self.bare, cwd=self.work)

    def write(self, rel, text):
        path = os.path.join(self.work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def remove(self, rel):
        git("rm", "-q", rel, cwd=self.work)

    def commit(self, msg="change"):
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", msg, cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).stdout.strip()


class GitDaemon:
    """git daemon on 127.0.0.1 serving every repository under base."""

    def __init__(self, tc, base):
        self.port = procs.free_port()
        tc.start([GIT, "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
                  "--listen=127.0.0.1", f"--port={self.port}", base], "git-daemon")
        procs.wait_port(self.port)

    def url(self, name):
        return f"git://127.0.0.1:{self.port}/{name}.git"


class _CgiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("git-http: " + (fmt % args) + "\n")

    def _body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _run(self):
        srv = self.server
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{srv.user}:{srv.password}".encode()).decode()
        if auth != want:
            self._body()  # keep the connection usable for the retry with credentials
            # no body: libgit2 1.5 does not read a 401's body before reusing the connection
            body = b""
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path, _, query = self.path.partition("?")
        data = self._body()
        env = {"GIT_PROJECT_ROOT": srv.base, "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(data)), "REMOTE_USER": srv.user,
               "REMOTE_ADDR": "127.0.0.1", "PATH": os.environ.get("PATH", "")}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        cp = subprocess.run([HTTP_BACKEND], input=data, env=env, capture_output=True)
        # CGI header lines may end in LF or CRLF
        out = cp.stdout
        crlf, lf = out.find(b"\r\n\r\n"), out.find(b"\n\n")
        if crlf >= 0 and (lf < 0 or crlf < lf):
            head, body = out[:crlf], out[crlf + 4:]
        else:
            head, body = out[:lf], out[lf + 2:]
        status = 200
        headers = []
        for line in head.decode("latin-1").replace("\r\n", "\n").split("\n"):
            if not line:
                continue
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _run
    do_POST = _run


class GitHttp:
    """git http-backend with Basic auth, in a thread of the test process."""

    def __init__(self, tc, base, user="platform", password="git-s3cret"):
        self.user, self.password = user, password
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CgiHandler)
        self.httpd.base, self.httpd.user, self.httpd.password = base, user, password
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        tc.addCleanup(self.stop)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}.git"
