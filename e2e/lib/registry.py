"""Registry helpers for sealift's end-to-end tests: real `docker-registry` processes (htpasswd or
Bearer-token auth), the Python token server in hack/, OCI image layouts built in Python and
pushed with skopeo, and small inspection helpers.

Everything binds 127.0.0.1 on free ports and lives in the test's temporary directory.
"""
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
import urllib.request

from procs import PYTHON, SRC, free_port, run, wait_for, wait_port

sys.path.insert(0, os.path.join(SRC, "hack", "lib"))
import registry_config  # noqa: E402  (hack/lib: shared with the hack/ scripts)

REGISTRY_BIN = "/usr/bin/docker-registry"
SKOPEO = "skopeo"
TOKEN_SERVER = os.path.join(SRC, "hack", "registry-token-server")
FAULT_PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultproxy.py")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """One docker-registry process ("account"). users maps user -> password (htpasswd, bcrypt);
    token=(realm, service, issuer, certfile) selects Bearer-token auth instead; neither means
    anonymous access."""

    def __init__(self, tc, name, users=None, token=None, tls=None):
        self.tc = tc
        self.name = name
        self.users = dict(users or {})
        self.token = token
        self.tls = tls  # (certificate, key[, client CA]) PEM paths to serve https (and mTLS)
        self.dir = os.path.join(tc.tmp, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc = None
        self._write_config()
        self.start()

    def _write_config(self):
        # the configuration every local registry of hack/ runs with (hack/lib/registry_config.py),
        # with the access log that count_requests reads
        self.config = registry_config.write_config(
            self.dir, self.name, self.port, users=self.users, token=self.token, tls=self.tls,
            access_log=True, log_level="info")

    def start(self):
        self.proc = self.tc.start([REGISTRY_BIN, "serve", self.config], f"registry-{self.name}")
        wait_port(self.port)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def kill(self):
        """SIGKILL, as a crash would."""
        import signal
        if self.proc:
            self.proc.stop(sig=signal.SIGKILL)
            self.proc = None

    def restart(self, users=None):
        """Stops and starts again on the same port and storage; users (user -> password), when
        given, replaces the htpasswd accounts first (docker-registry reads htpasswd only when it
        starts)."""
        self.stop()
        if users is not None:
            self.users = dict(users)
            self._write_config()
        self.start()

    def creds(self, user=None):
        if not self.users:
            return None
        user = user or next(iter(self.users))
        return f"{user}:{self.users[user]}"

    def log_text(self):
        """All registry logs so far (every start appends to the same file)."""
        path = os.path.join(self.tc.tmp, f"registry-{self.name}.log")
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def count_requests(self, method, path_part):
        """Counts access-log lines like "HEAD /v2/x/blobs/sha256:... HTTP/1.1"."""
        n = 0
        for line in self.log_text().splitlines():
            if f'"{method} ' in line and path_part in line and " HTTP/1.1\"" in line:
                n += 1
        return n


class RefRegistry:
    """The refregistry test peer (hack/tools/refregistry): an in-memory registry that has the OCI
    1.1 referrers API (Debian's docker-registry 2.8 has not), with Basic auth for one user.
    Same attributes as Registry (host, creds()); its content is lost when it stops."""

    def __init__(self, tc, name, user="acme", password="s3cret"):
        from procs import peer
        self.name = name
        self.users = {user: password}
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        env = dict(os.environ, REFREGISTRY_PASSWORD=password)
        self.proc = tc.start([peer("refregistry"), "-addr", self.host, "-user", user],
                             f"refregistry-{name}", env=env)
        wait_port(self.port)

    def creds(self, user=None):
        user = user or next(iter(self.users))
        return f"{user}:{self.users[user]}"


class TokenServer:
    """hack/registry-token-server with a fresh RSA key and self-signed certificate; users maps
    user -> password."""

    def __init__(self, tc, users, service="sealift-registry", issuer="sealift-token-issuer"):
        self.dir = os.path.join(tc.tmp, "token")
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "key.pem")
        self.cert = os.path.join(self.dir, "cert.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
             "-out", self.cert, "-days", "2", "-subj", "/CN=sealift-token"])
        self.port = free_port()
        self.service = service
        self.issuer = issuer
        self.realm = f"http://127.0.0.1:{self.port}/token"
        args = [PYTHON, TOKEN_SERVER, "--addr", f"127.0.0.1:{self.port}", "--key", self.key,
                "--cert", self.cert, "--issuer", issuer, "--expires-in", "300"]
        for user, password in users.items():
            args += ["--user", f"{user}:{password}"]
        self.proc = tc.start(args, "token-server")
        wait_port(self.port)

    def registry_auth(self):
        return (self.realm, self.service, self.issuer, self.cert)

    def requests(self):
        return [line for line in self.proc.output().splitlines() if "GET /token" in line]


class FaultProxy:
    """e2e/lib/faultproxy.py in front of upstream (host:port): the first `count` requests get
    the fault (503, 429 with Retry-After, a dropped connection, a held request...), the rest pass
    through; method restricts the faults to requests with that method."""

    def __init__(self, tc, upstream, mode, count, name="faultproxy", match="", slow_ms=0,
                 paginate_tags=False, method="", gate_file="", chaos=None):
        """chaos: dict of --chaos-* options (rate, file, slow_ms, seed, stats)."""
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        args = [PYTHON, FAULT_PROXY, "--listen", self.host, "--upstream", upstream,
                "--mode", mode, "--count", str(count)]
        if match:
            args += ["--match", match]
        if method:
            args += ["--method", method]
        if slow_ms:
            args += ["--slow-ms", str(slow_ms)]
        if paginate_tags:
            args.append("--paginate-tags")
        if gate_file:
            args += ["--gate-file", gate_file]
        for k, v in (chaos or {}).items():
            args += [{"rate": "--chaos-rate", "file": "--chaos-file", "slow_ms": "--chaos-slow-ms",
                      "seed": "--seed", "stats": "--stats"}[k], str(v)]
        self.proc = tc.start(args, name)
        wait_port(self.port)

    def pages(self):
        return [line[5:] for line in self.proc.output().splitlines() if line.startswith("PAGE ")]

    def faults(self):
        return sum(1 for line in self.proc.output().splitlines() if line.startswith("FAULT "))

    def fault_lines(self):
        """["<kind> <method> <path>"] of the faults injected so far."""
        return [line[6:] for line in self.proc.output().splitlines()
                if line.startswith("FAULT ")]


def make_tls(dirpath):
    """A test CA and a server certificate for 127.0.0.1 signed by it. Returns
    (ca_pem, server_cert_pem, server_key_pem) paths."""
    os.makedirs(dirpath, exist_ok=True)
    ca, ca_key = os.path.join(dirpath, "ca.pem"), os.path.join(dirpath, "ca.key")
    crt, key = os.path.join(dirpath, "server.pem"), os.path.join(dirpath, "server.key")
    csr, ext = os.path.join(dirpath, "server.csr"), os.path.join(dirpath, "server.ext")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=sealift-test-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
    return ca, crt, key


# ---- OCI layouts ----

def _gzip_tar_layer(rng, size, name):
    payload = rng.randbytes(size)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(payload))
    tar = tbuf.getvalue()
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    return gz, sha256_digest(tar)


class Layout:
    """An OCI image layout directory under construction."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def put_blob(self, data):
        d = sha256_digest(data)
        p = os.path.join(self.path, "blobs", "sha256", d[7:])
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
        return d

    def image(self, layer_sizes, arch="amd64", seed=None, os_name="linux"):
        """Adds an image of gzip-tar layers with random content; returns the manifest
        descriptor (dict)."""
        rng = random.Random(seed)
        layers, diff_ids = [], []
        for i, size in enumerate(layer_sizes):
            gz, diff_id = _gzip_tar_layer(rng, size, f"file{i}.bin")
            layers.append({"mediaType": OCI_LAYER_GZIP, "digest": self.put_blob(gz),
                           "size": len(gz)})
            diff_ids.append(diff_id)
        config = json.dumps({"architecture": arch, "os": os_name, "config": {},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                            separators=(",", ":")).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.put_blob(config),
                       "size": len(config)},
            "layers": layers}, separators=(",", ":")).encode()
        return {"mediaType": OCI_MANIFEST, "digest": self.put_blob(manifest),
                "size": len(manifest), "platform": {"architecture": arch, "os": os_name}}

    def index(self, descriptors):
        idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": descriptors}, separators=(",", ":")).encode()
        return {"mediaType": OCI_INDEX, "digest": self.put_blob(idx), "size": len(idx)}

    def tag(self, descriptor, tag):
        d = {k: v for k, v in descriptor.items() if k != "platform"}
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.refs.append(d)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def push(layout_path, tag, dest, creds=None, all_platforms=False, fmt=None, cert_dir=None):
    """skopeo copy oci:DIR:TAG docker://dest (fmt "v2s2" converts to Docker media types;
    cert_dir: a folder with a client certificate, NAME.cert and NAME.key, for mTLS)"""
    args = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false"]
    if cert_dir:
        args += ["--dest-cert-dir", cert_dir]
    if fmt:
        args += ["--format", fmt]
    if creds:
        args += ["--dest-creds", creds]
    if all_platforms:
        args.append("--all")
    args += [f"oci:{layout_path}:{tag}", f"docker://{dest}"]
    run(args, timeout=300)


def inspect_raw(ref, creds=None, cert_dir=None):
    """Manifest bytes at ref as skopeo sees them (cert_dir: as push's)."""
    args = [SKOPEO, "inspect", "--raw", "--tls-verify=false"]
    if cert_dir:
        args += ["--cert-dir", cert_dir]
    if creds:
        args += ["--creds", creds]
    args.append(f"docker://{ref}")
    cp = subprocess.run(args, capture_output=True, timeout=120)
    if cp.returncode != 0:
        raise AssertionError(f"skopeo inspect --raw {ref}: {cp.stderr.decode()}")
    return cp.stdout


def inspect(ref, creds=None, raw_ok=False):
    """skopeo inspect (which reads config and needs every piece in place); returns the JSON."""
    args = [SKOPEO, "inspect", "--tls-verify=false"]
    if creds:
        args += ["--creds", creds]
    args.append(f"docker://{ref}")
    cp = run(args, timeout=120)
    return json.loads(cp.stdout)


def manifest_exists(host, repo, reference, creds=None):
    """HEAD /v2/<repo>/manifests/<reference> (Basic auth) -> True/False."""
    return _head(f"http://{host}/v2/{repo}/manifests/{reference}", creds)


def blob_exists(host, repo, digest, creds=None):
    """HEAD /v2/<repo>/blobs/<digest> (Basic auth) -> True/False."""
    return _head(f"http://{host}/v2/{repo}/blobs/{digest}", creds)


def _head(url, creds):
    import base64
    req = urllib.request.Request(url, method="HEAD")
    req.add_header("Accept", ", ".join([OCI_INDEX, OCI_MANIFEST,
                   "application/vnd.docker.distribution.manifest.v2+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json"]))
    if creds:
        req.add_header("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise
