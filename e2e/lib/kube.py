"""Helpers for e2e tests that need a Kubernetes API.

Cluster is a real etcd + kube-apiserver (hack/cluster.sh): RBAC on, the admission plugins on,
sealift's CRDs, RBAC and ServiceAccount installed by install(), and the controller talking to it
with its ServiceAccount's token (controller_kubeconfig). This is what every test uses, unless it
needs a fault hook that a real server cannot do on demand.

    api = Cluster(self.tmp)            # one control plane per test, under the test's temp dir
    api.start(self)                    # self is a procs.TempDirTestCase; stopped by its cleanup
    api.install()                      # kubectl apply -k crds/ (+ webhook routing, SA token)
    api.kubectl("apply", "-f", path)   # CompletedProcess (admin); raises AssertionError if it fails
    client = api.api_client()          # kubernetes.client.ApiClient (admin)
    api.restart_apiserver()            # drops every watch; the API server comes back on its port
    api.compact()                      # etcd compaction: old resourceVersions answer 410

StandIn is the Python stand-in (hack/kube-standin, ../shared/kube-api-standin.md), kept only for
tests that need its fault hooks (fail the next N requests, add latency); such tests say why.

    api = StandIn(self.tmp)            # or StandIn(self.tmp, tls=True)
    api.admin("fail", count=2, code=503)
"""
import json
import os
import re
import ssl
import urllib.parse
import urllib.request

import procs

STANDIN = os.path.join(procs.SRC, "hack", "kube-standin")
CLUSTER_SH = os.path.join(procs.SRC, "hack", "cluster.sh")
CRDS = os.path.join(procs.SRC, "crds")


class Cluster:
    """A real kube-apiserver + etcd for one test (see the module docstring)."""

    def __init__(self, tmpdir, name="cluster"):
        self.dir = os.path.join(tmpdir, name)
        self.name = name
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.controller_kubeconfig = os.path.join(self.dir, "sealift.kubeconfig")
        self.serviceaccount_dir = os.path.join(self.dir, "serviceaccount")
        self.ca_path = os.path.join(self.dir, "pki", "ca.crt")
        self.webhook_cert_dir = os.path.join(self.dir, "pki", "webhook")
        self.webhook_client_cert = os.path.join(self.dir, "pki", "webhook-client.crt")
        self.webhook_client_key = os.path.join(self.dir, "pki", "webhook-client.key")
        self.cache_dir = os.path.join(self.dir, "kubecache")
        self.webhook_port = procs.free_port()
        self.url = None
        self.port = None
        self.installed = False

    def _sh(self, *args, timeout=900):
        env = dict(os.environ, SEALIFT_WEBHOOK_PORT=str(self.webhook_port))
        return procs.run(["bash", CLUSTER_SH, *args], env=env, timeout=timeout)

    def start(self, testcase, timeout=900):
        """Starts etcd and kube-apiserver (built once, cached); stopped by the test's cleanup."""
        os.makedirs(self.dir, exist_ok=True)
        testcase.addCleanup(self.stop)
        self._sh("up", self.dir, timeout=timeout)
        with open(self.kubeconfig) as f:
            self.url = re.search(r"server: (\S+)", f.read()).group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def install(self):
        """sealift's install (kubectl apply -k crds/), the webhook Service routed to
        127.0.0.1:webhook_port, and a token of the sealift-controller ServiceAccount."""
        self._sh("install", self.dir)
        self.installed = True

    def stop(self):
        self._sh("down", self.dir)

    def restart_apiserver(self):
        """Stops and starts kube-apiserver on the same port: every watch is dropped."""
        self._sh("restart-apiserver", self.dir)

    def stop_apiserver(self):
        """Stops kube-apiserver (etcd keeps running): every request fails to connect."""
        self._sh("stop-apiserver", self.dir)

    def start_apiserver(self):
        """Starts kube-apiserver again on its port; returns when it is ready."""
        self._sh("start-apiserver", self.dir)

    def compact(self):
        """Compacts etcd at its current revision; returns the revision."""
        return int(self._sh("compact", self.dir).stdout.strip())

    def audit_events(self):
        """The API server's audit events for sealift's ServiceAccount (dicts with verb,
        requestURI, responseStatus.code, ...), oldest first."""
        out = []
        path = os.path.join(self.dir, "audit.log")
        if not os.path.exists(path):
            return out
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def webhook_args(self):
        """`sealift controller` flags that serve the admission webhook where this API server
        calls it (certificate for sealift-webhook.sealift-system.svc, the Service's port)."""
        return ["--webhook-addr", f"127.0.0.1:{self.webhook_port}",
                "--webhook-cert-dir", self.webhook_cert_dir,
                "--webhook-service-port", str(self.webhook_port)]

    def kubectl(self, *args, check=True, input=None, timeout=120, as_controller=False):
        """Runs the real kubectl (as the admin, or as sealift's ServiceAccount)."""
        kc = self.controller_kubeconfig if as_controller else self.kubeconfig
        return procs.run(["kubectl", "--kubeconfig", kc, "--cache-dir", self.cache_dir, *args],
                         check=check, input=input, timeout=timeout)

    def signing_key_file(self, namespace, secret, path):
        """Writes the cosign.key of a SigningKey's Secret to path and returns the environment
        (os.environ plus COSIGN_PASSWORD from the Secret's cosign.password) under which
        `sealift sign --key path` and cosign open it."""
        import base64
        data = json.loads(self.kubectl("get", "secret", "-n", namespace, secret, "-o",
                                       "json").stdout)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["cosign.key"]))
        password = base64.b64decode(data.get("cosign.password", "")).decode()
        return dict(os.environ, COSIGN_PASSWORD=password)

    def api_client(self, as_controller=False):
        """A kubernetes.client.ApiClient configured from the admin (or controller) kubeconfig."""
        from kubernetes import config
        return config.new_client_from_config(
            config_file=self.controller_kubeconfig if as_controller else self.kubeconfig)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Raw HTTP request as the admin; returns (status, headers, parsed JSON or bytes)."""
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        ctx = ssl.create_default_context(cafile=self.ca_path)
        pki = os.path.join(self.dir, "pki")
        ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                raw, status, rh = resp.read(), resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            raw, status, rh = exc.read(), exc.code, exc.headers
        try:
            return status, rh, json.loads(raw)
        except ValueError:
            return status, rh, raw


class StandIn:
    def __init__(self, tmpdir, tls=False, state=None, token=None, port=0, name="kube-standin",
                 extra_args=()):
        self.tmpdir = tmpdir
        self.tls = tls
        self.state = state
        self.token = token
        self.port = port
        self.name = name
        self.extra_args = list(extra_args)
        self.kubeconfig = os.path.join(tmpdir, f"{name}.kubeconfig")
        self.cache_dir = os.path.join(tmpdir, f"{name}.kubecache")
        self.proc = None
        self.url = None

    @property
    def controller_kubeconfig(self):
        return self.kubeconfig

    def install(self):
        """Applies crds/ (the stand-in has no RBAC: the controller uses the admin kubeconfig)."""
        self.kubectl("apply", "-k", CRDS)

    @property
    def serviceaccount_dir(self):
        """With tls=True: directory with token, ca.crt, namespace (in-cluster layout)."""
        return self.kubeconfig + ".serviceaccount"

    @property
    def ca_path(self):
        return os.path.join(self.kubeconfig + ".pki", "ca.crt") if self.tls else None

    def start(self, testcase, timeout=30.0):
        """Starts the server (stopped by the test's cleanup) and waits for its kubeconfig."""
        if os.path.exists(self.kubeconfig):
            os.unlink(self.kubeconfig)
        args = [procs.PYTHON, STANDIN, "--port", str(self.port), "--kubeconfig",
                self.kubeconfig]
        if self.tls:
            args.append("--tls")
        if self.token:
            args += ["--token", self.token]
        if self.state:
            args += ["--state", self.state]
        args += self.extra_args
        self.proc = testcase.start(args, self.name)

        def ready():
            if not self.proc.alive():
                raise AssertionError(f"kube-standin exited:\n{self.proc.output()[-2000:]}")
            return os.path.exists(self.kubeconfig)
        procs.wait_for(ready, timeout, what="kube-standin kubeconfig")
        with open(self.kubeconfig) as f:
            text = f.read()
        self.url = re.search(r"server: (\S+)", text).group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        m = re.search(r"token: (\S+)", text)
        if m:
            self.token = m.group(1)
        return self

    def stop(self):
        """Stops the server with SIGTERM (so --state is saved); returns its exit code."""
        return self.proc.stop() if self.proc else None

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Raw HTTP request; returns (status, headers, parsed JSON or bytes)."""
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        ctx = ssl.create_default_context(cafile=self.ca_path) if self.tls else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                raw, status, rh = resp.read(), resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            raw, status, rh = exc.read(), exc.code, exc.headers
        try:
            return status, rh, json.loads(raw)
        except ValueError:
            return status, rh, raw

    def admin(self, path, **params):
        """POSTs a test hook, e.g. admin("fail", count=2, code=503); returns the JSON answer."""
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, _, body = self.request("POST", f"/__standin/{path}{q}")
        if status != 200:
            raise AssertionError(f"admin hook {path} answered {status}: {body}")
        return body

    def kubectl(self, *args, check=True, input=None, timeout=120):
        """Runs the real kubectl against the stand-in; returns a CompletedProcess."""
        return procs.run(["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir",
                          self.cache_dir, *args], check=check, input=input, timeout=timeout)

    def api_client(self):
        """A kubernetes.client.ApiClient configured from the kubeconfig."""
        from kubernetes import config
        return config.new_client_from_config(config_file=self.kubeconfig)
