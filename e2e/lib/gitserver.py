"""Git servers for end-to-end tests: `git daemon` (git://) and `git http-backend` behind a small
CGI server with Basic auth (http://, and https:// with a test CA). They serve bare repositories
under a base directory. SshServer runs OpenSSH's sshd (ssh://, absolute repository paths)."""
import base64
import getpass
import os
import ssl
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
        srv.requests.append({"path": self.path, "authorization": auth})
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
    """git http-backend with Basic auth, in a thread of the test process. `requests` lists
    every request it received ({"path", "authorization"}), e.g. to show that a client sent an
    attacker's server no credentials."""

    def __init__(self, tc, base, user="platform", password="git-s3cret"):
        self.user, self.password = user, password
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CgiHandler)
        self.httpd.base, self.httpd.user, self.httpd.password = base, user, password
        self.httpd.requests = self.requests = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        tc.addCleanup(self.stop)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}.git"


class _RedirectHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("git-redirect: " + (fmt % args) + "\n")

    def _run(self):
        self.server.requests.append({"path": self.path,
                                     "authorization": self.headers.get("Authorization", "")})
        self.send_response(302)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = _run
    do_POST = _run


class Redirector:
    """An HTTP server that answers every request with a 302 to the same path on target (e.g.
    "http://127.0.0.1:<port>"): a git server that sends its clients to another server."""

    def __init__(self, tc, target):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RedirectHandler)
        self.httpd.target = target
        self.httpd.requests = self.requests = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        tc.addCleanup(self.stop)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}.git"


class _TlsHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connections speak TLS; the handshake runs in the connection's
    thread so a client that refuses the certificate does not block the accept loop."""

    def __init__(self, addr, handler, context):
        self.context = context
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        sys.stderr.write(f"git-https: connection from {client_address}: {sys.exc_info()[1]}\n")


class _TlsCgiHandler(_CgiHandler):
    def setup(self):
        self.request.settimeout(30)
        self.request.do_handshake()
        super().setup()


class GitHttps(GitHttp):
    """GitHttp over TLS: git http-backend with Basic auth behind https://127.0.0.1:<port>,
    serving cert_file/key_file (for example from tlsgen.make_serving_cert)."""

    def __init__(self, tc, base, cert_file, key_file, user="platform", password="git-s3cret"):
        self.user, self.password = user, password
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        self.httpd = _TlsHttpServer(("127.0.0.1", 0), _TlsCgiHandler, ctx)
        self.httpd.base, self.httpd.user, self.httpd.password = base, user, password
        self.httpd.requests = self.requests = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        tc.addCleanup(self.stop)

    def url(self, name):
        return f"https://127.0.0.1:{self.port}/{name}.git"


SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and needs its absolute path


def ssh_keygen(path, key_type="ed25519", comment="e2e"):
    """Creates an unencrypted key pair path / path.pub in OpenSSH format; returns path."""
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", path]
    if key_type == "ecdsa":
        args[4:4] = ["-b", "256"]
    procs.run(args)
    return path


class SshServer:
    """OpenSSH sshd on 127.0.0.1:<free port> with its own ed25519 host key, configuration and
    authorized_keys in directory. It logs in the current user (root in CI) with public keys only;
    git clients run git-upload-pack on the absolute path of a bare repository."""

    def __init__(self, tc, directory, authorized_pubkeys=()):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.user = getpass.getuser()
        self.port = procs.free_port()
        self.host_key = ssh_keygen(os.path.join(directory, "host_ed25519"), "ed25519", "host")
        self.authorized_keys = os.path.join(directory, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            for pub in authorized_pubkeys:
                with open(pub) as p:
                    f.write(p.read())
        os.chmod(self.authorized_keys, 0o600)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
        self.config = os.path.join(directory, "sshd_config")
        lines = [
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {os.path.join(directory, 'sshd.pid')}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
        ]
        # OpenSSH >= 9.8 throttles sources after failed logins; tests fail logins on purpose
        with_penalties = lines + ["PerSourcePenalties no"]
        self._write_config(with_penalties)
        if procs.run([SSHD, "-t", "-f", self.config], check=False).returncode != 0:
            self._write_config(lines)
            procs.run([SSHD, "-t", "-f", self.config])
        self.proc = tc.start([SSHD, "-D", "-e", "-f", self.config], "sshd")
        procs.wait_port(self.port)

    def log(self):
        return self.proc.output()

    def _write_config(self, lines):
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def host_pubkey(self):
        """The host key as "<type> <base64>"."""
        with open(self.host_key + ".pub") as f:
            return " ".join(f.read().split()[:2])

    def known_hosts(self, hashed=False):
        """A known_hosts line for this server ("[127.0.0.1]:port type key"), or the same line
        hashed by `ssh-keygen -H` ("|1|salt|hash type key")."""
        line = f"[127.0.0.1]:{self.port} {self.host_pubkey()}\n"
        if not hashed:
            return line
        path = os.path.join(self.dir, "known_hosts.hash")
        with open(path, "w") as f:
            f.write(line)
        procs.run(["ssh-keygen", "-q", "-H", "-f", path])
        with open(path) as f:
            return f.read()

    def url(self, bare_path):
        return f"ssh://{self.user}@127.0.0.1:{self.port}{bare_path}"
