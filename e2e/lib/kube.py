"""Helpers for e2e tests that need a Kubernetes API: the stand-in server (hack/kube-standin),
the real kubectl pointed at it, and python-kubernetes clients.

    api = StandIn(self.tmp)            # or StandIn(self.tmp, tls=True)
    api.start(self)                    # self is a procs.TempDirTestCase
    api.kubectl("apply", "-f", path)   # CompletedProcess; raises AssertionError if it fails
    client = api.api_client()          # kubernetes.client.ApiClient
    api.admin("drop-watches")          # test hooks: compact, fail, latency, snapshot, stats
"""
import json
import os
import re
import ssl
import urllib.parse
import urllib.request

import procs

STANDIN = os.path.join(procs.SRC, "hack", "kube-standin")


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
