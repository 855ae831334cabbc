"""kstatus on a real kube-apiserver + etcd: the controller writes `Reconciling` while work is in
progress (already during a new ImageDelivery's first copy, before any Ready), `Stalled` on errors
that need a change, `Ready` as the summary, and suspended objects read as suspended. The Argo CD
health check (docs/health/argocd-cm.yaml, run with Debian's Lua 5.4) and the Flux
healthCheckExprs (docs/health/flux-health-check-exprs.yaml, run with @bufbuild/cel as
tests/cel/health.mjs) give every state the verdict a user expects, on the objects as the API
server returns them."""
import json
import os
import shutil
import socket
import subprocess
import unittest

import procs
import yaml
from controller import Controller
from kube import Cluster

NS = "default"
LUA = shutil.which("lua5.4") or "/usr/bin/lua5.4"


def lua_value(v):
    """A Lua literal for a JSON value (null becomes nil, as Argo CD decodes objects)."""
    if isinstance(v, dict):
        items = ", ".join(f"[{lua_value(k)}] = {lua_value(x)}" for k, x in v.items()
                          if x is not None)
        return "{" + items + "}"
    if isinstance(v, list):
        return "{" + ", ".join(lua_value(x) for x in v) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid Lua string literal for our content


def argocd_health(script, obj):
    """(status, message) of Argo CD's health check script for obj."""
    harness = ("obj = " + lua_value(obj) + "\n" +
               "local check = load(io.read('a'))\n" +
               "local hs = check()\n" +
               "io.write(hs.status, '\\n', hs.message or '')\n")
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sealift-health-{os.getpid()}.lua")
    with open(path, "w") as f:
        f.write(harness)
    try:
        cp = subprocess.run([LUA, path], input=script, capture_output=True, text=True,
                            timeout=30, check=True)
    finally:
        os.unlink(path)
    status, _, message = cp.stdout.partition("\n")
    return status, message


class HealthTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()
        # a registry that accepts connections and never answers: the first copy stays in
        # progress until --registry-timeout
        self.hole = socket.socket()
        self.hole.bind(("127.0.0.1", 0))
        self.hole.listen(64)
        self.addCleanup(self.hole.close)
        self.ctl = Controller(self, self.kube, extra_args=("--registry-timeout", "45s"))
        with open(os.path.join(procs.SRC, "docs/health/argocd-cm.yaml")) as f:
            cm = yaml.safe_load(f)
        prefix = "resource.customizations.health.sealift.dev_"
        self.lua_by_kind = {k[len(prefix):]: v for k, v in cm["data"].items()
                            if k.startswith(prefix)}
        self.lua = self.lua_by_kind["ImageDelivery"]
        with open(os.path.join(procs.SRC, "docs/health/flux-health-check-exprs.yaml")) as f:
            self.exprs = yaml.safe_load(f)["spec"]["healthCheckExprs"]

    def apply(self, text):
        self.kube.kubectl("apply", "-f", "-", input=text)

    def get(self, kind, name):
        args = ["get", kind, name, "-o", "json"]
        if kind != "deploypolicy":
            args[3:3] = ["-n", NS]
        return json.loads(self.kube.kubectl(*args).stdout)

    @staticmethod
    def cond(obj, ctype):
        for c in obj.get("status", {}).get("conditions", []):
            if c["type"] == ctype:
                return c
        return None

    def wait(self, kind, name, pred, what):
        return procs.wait_for(lambda: (lambda o: o if pred(o) else None)(self.get(kind, name)),
                              timeout=120, interval=0.1, what=f"{kind}/{name}: {what}")

    def flux(self, cases):
        """{name: Flux status} for [(name, object)] through tests/cel/health.mjs."""
        exprs = os.path.join(self.tmp, "exprs.json")
        cases_path = os.path.join(self.tmp, "cases.json")
        with open(exprs, "w") as f:
            json.dump(self.exprs, f)
        with open(cases_path, "w") as f:
            json.dump([{"name": n, "object": o, "expect": "?"} for n, o in cases], f)
        cel = os.path.join(procs.SRC, "tests/cel")
        cp = subprocess.run(["node", os.path.join(cel, "health.mjs"), exprs, cases_path],
                            cwd=cel, capture_output=True, text=True, timeout=60)
        got = {}
        for line in cp.stdout.splitlines():
            name, _, rest = line[5:].partition(": ")
            got[name] = rest.split(" ")[0]
        self.assertEqual(len(got), len(cases), cp.stdout + cp.stderr)
        return got

    def test_conditions_and_health_checks_of_every_kind(self):
        empty_db = os.path.join(self.tmp, "empty-db")
        os.makedirs(empty_db)
        self.apply(f"""apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {{name: release, namespace: {NS}}}
spec: {{mode: Generate, secretRef: {{name: release-key}}}}
---
apiVersion: sealift.dev/v1beta1
kind: ScanPolicy
metadata: {{name: empty, namespace: {NS}}}
spec: {{database: {{path: "{empty_db}"}}}}
---
apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {{name: digests}}
spec:
  namespaceSelector: {{matchLabels: {{sealift.dev/enforce: "true"}}}}
  rules: {{requireDigest: true}}
---
apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {{name: unreachable, namespace: {NS}}}
spec: {{url: "git://127.0.0.1:{procs.free_port()}/delivery.git", interval: 1m}}
---
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: paused, namespace: {NS}}}
spec:
  source: {{image: 127.0.0.1:1/acme/app, tags: ["1.0"], insecure: true}}
  targets: [{{image: 127.0.0.1:1/mirror/app, insecure: true}}]
  suspend: true
---
apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: badpattern, namespace: {NS}}}
spec:
  source: {{image: 127.0.0.1:1/acme/app, tagPattern: "(?i)^v1", insecure: true}}
  targets: [{{image: 127.0.0.1:1/mirror/app, insecure: true}}]
""")
        def has(ctype, status="True", reason=None):
            def pred(o):
                c = self.cond(o, ctype)
                return c is not None and c["status"] == status and \
                    (reason is None or c["reason"] == reason)
            return pred

        states = {}
        # converged: Ready only
        key = self.wait("signingkey", "release", has("Ready"), "Ready=True")
        policy = self.wait("deploypolicy", "digests", has("Ready"), "Ready=True")
        for o in (key, policy):
            self.assertIsNone(self.cond(o, "Reconciling"))
            self.assertIsNone(self.cond(o, "Stalled"))
        states["key-ready"] = (key, "Healthy", "Current")
        states["policy-ready"] = (policy, "Healthy", "Current")
        # an empty advisory database needs a change: Stalled with Ready's reason
        db = self.wait("scanpolicy", "empty", has("Stalled"), "Stalled=True")
        self.assertEqual(self.cond(db, "Stalled")["reason"], "DatabaseEmpty")
        self.assertEqual(self.cond(db, "Ready")["status"], "False")
        self.assertIsNone(self.cond(db, "Reconciling"))
        states["db-empty"] = (db, "Degraded", "Failed")
        # a pattern the controller refuses: Stalled InvalidSpec
        bad = self.wait("imagedelivery", "badpattern", has("Stalled", reason="InvalidSpec"),
                        "Stalled=True InvalidSpec")
        self.assertIn("spec.source.tagPattern", self.cond(bad, "Stalled")["message"])
        states["imd-invalid"] = (bad, "Degraded", "Failed")
        # an unreachable repository is retried: Reconciling, not Stalled
        git = self.wait("gitsource", "unreachable",
                        has("Reconciling", reason="ProgressingWithRetry"),
                        "Reconciling=True ProgressingWithRetry")
        self.assertEqual(self.cond(git, "Ready")["reason"], "FetchFailed")
        self.assertIsNone(self.cond(git, "Stalled"))
        states["git-retrying"] = (git, "Progressing", "InProgress")
        # suspended: neither in progress nor stalled
        paused = self.wait("imagedelivery", "paused", has("Ready", "Unknown", "Suspended"),
                           "Ready=Unknown Suspended")
        self.assertIsNone(self.cond(paused, "Reconciling"))
        self.assertIsNone(self.cond(paused, "Stalled"))
        self.assertEqual(paused["status"]["observedGeneration"], paused["metadata"]["generation"])
        states["imd-suspended"] = (paused, "Suspended", "Current")

        # a new delivery in the middle of its first copy: Reconciling before any Ready
        self.apply(f"""apiVersion: sealift.dev/v1beta1
kind: ImageDelivery
metadata: {{name: copying, namespace: {NS}}}
spec:
  source: {{image: "127.0.0.1:{self.hole.getsockname()[1]}/acme/app", tags: ["1.0"], insecure: true}}
  targets: [{{image: 127.0.0.1:1/mirror/app, insecure: true}}]
""")
        copying = self.wait("imagedelivery", "copying", has("Reconciling", reason="Progressing"),
                            "Reconciling=True Progressing")
        self.assertIsNone(self.cond(copying, "Ready"), "the copy is still running")
        self.assertNotIn("observedGeneration", copying["status"])
        states["imd-first-copy"] = (copying, "Progressing", "InProgress")

        # a spec change the controller has not looked at yet is in progress for both tools
        changed = json.loads(json.dumps(key))
        changed["metadata"]["generation"] += 1
        states["key-new-generation"] = (changed, "Progressing", "InProgress")
        # an object the controller has not written yet
        fresh = {k: v for k, v in key.items() if k != "status"}
        states["key-no-status"] = (fresh, "Progressing", "InProgress")

        flux = self.flux([(name, obj) for name, (obj, _, _) in states.items()])
        for name, (obj, argo_want, flux_want) in states.items():
            with self.subTest(state=name):
                status, message = argocd_health(self.lua, obj)
                self.assertEqual(status, argo_want, message)
                if argo_want in ("Degraded", "Progressing") and obj.get("status"):
                    self.assertTrue(message, "the health message explains the state")
                self.assertEqual(flux[name], flux_want)
        # the Stalled message reaches Argo CD's UI
        self.assertIn("spec.source.tagPattern", argocd_health(self.lua, bad)[1])
        # every kind is covered by both, with one script; the ConfigMap is one the API server
        # takes as it is
        kinds = {"ImageDelivery", "ScanPolicy", "SigningKey", "DeployPolicy", "GitSource"}
        self.assertEqual(set(self.lua_by_kind), kinds)
        self.assertEqual(len(set(self.lua_by_kind.values())), 1)
        self.kube.kubectl("create", "namespace", "argocd")
        with open(os.path.join(procs.SRC, "docs/health/argocd-cm.yaml")) as f:
            cp = self.kube.kubectl("apply", "--dry-run=server", "-f", "-", input=f.read(),
                                   check=False)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual({e["kind"] for e in self.exprs}, kinds)
        self.assertEqual({o["kind"] for o, _, _ in states.values()}, kinds)


if __name__ == "__main__":
    unittest.main()
