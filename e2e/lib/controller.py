"""Starting `sealift controller` in end-to-end tests and reading what it exposes."""
import json
import os
import urllib.request

import procs


class Controller:
    """A `sealift controller` process against a kubeconfig.

    The controller logs JSON lines on stderr; the line carrying "metricsAddr" tells where its
    HTTP server listens (it is started with --metrics-addr 127.0.0.1:0)."""

    # What an administrator of a lab cluster allows: the tests' registries are plain http on
    # loopback, ScanPolicies read advisory folders and GitSources file:// repositories, and
    # intervals are seconds. Tests of the secure defaults pass lab=False.
    LAB_ARGS = ("--insecure-registry", "127.0.0.1", "--allow-local-paths", "--min-interval", "1s")

    def __init__(self, testcase, kube, name="controller", namespace="sealift-system",
                 extra_args=(), env=None, lab=True, webhook=False, command=None):
        """kube: a kube.Cluster / kube.StandIn (the controller then uses its ServiceAccount
        kubeconfig) or a kubeconfig path. webhook=True serves the admission webhook where the
        Cluster's API server calls it. command replaces `sealift controller --kubeconfig F`
        (e.g. the image's binary under chroot, with the in-cluster configuration)."""
        self.testcase = testcase
        kubeconfig = kube if isinstance(kube, str) else kube.controller_kubeconfig
        if webhook:
            extra_args = [*kube.webhook_args(), *extra_args]
        args = [*(command or (procs.SEALIFT, "controller", "--kubeconfig", kubeconfig)),
                "--namespace", namespace, "--metrics-addr", "127.0.0.1:0",
                *(self.LAB_ARGS if lab else ()), *extra_args]
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = testcase.start(args, name, env=full_env)
        self.metrics_addr = procs.wait_for(self._find_metrics_addr, timeout=30,
                                           what=f"{name} to log its metricsAddr")

    def log_lines(self):
        out = []
        for line in self.proc.output().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def _find_metrics_addr(self):
        if not self.proc.alive():
            raise AssertionError("controller exited early:\n" + self.proc.output()[-3000:])
        for rec in self.log_lines():
            if rec.get("metricsAddr"):
                return rec["metricsAddr"]
        return None

    def get(self, path, timeout=5):
        """GET http://<metricsAddr><path>; returns (status, body text)."""
        try:
            with urllib.request.urlopen(f"http://{self.metrics_addr}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=30):
        procs.wait_for(lambda: self.get("/readyz")[0] == 200, timeout=timeout,
                       what="controller /readyz to answer 200")

    def stop(self, sig=None):
        import signal
        return self.proc.stop(sig or signal.SIGTERM)
