"""The controller runtime end to end against the stand-in: health and metrics endpoints, watches
that survive dropped connections and compaction (410), leader election on a Lease with hand-over,
graceful shutdown, and the in-cluster configuration path (TLS + service-account token)."""
import json
import os
import signal
import unittest

import procs
from controller import Controller
from kube import StandIn

KEY = """
apiVersion: sealift.dev/v1alpha1
kind: SigningKey
metadata: {name: %(name)s, namespace: default}
spec:
  mode: Generate
  secretRef: {name: %(name)s-key}
"""


def ready_status(kube, name, ns="default"):
    cp = kube.kubectl("get", "-n", ns, f"signingkey/{name}", "-o", "json", check=False)
    if cp.returncode != 0:
        return None
    for c in json.loads(cp.stdout).get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c["status"]
    return None


class RuntimeTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.kube = StandIn(self.tmp)
        self.kube.start(self)
        self.kube.kubectl("apply", "-k", os.path.join(procs.SRC, "crds"))

    def apply_key(self, name):
        self.kube.kubectl("apply", "-f", "-", input=KEY % {"name": name})

    def wait_key_ready(self, name, timeout=30):
        procs.wait_for(lambda: ready_status(self.kube, name) == "True", timeout=timeout,
                       what=f"SigningKey {name} Ready")

    def test_health_metrics_and_logs(self):
        ctl = Controller(self, self.kube.kubeconfig)
        ctl.wait_ready()
        self.assertEqual(ctl.get("/healthz")[0], 200)
        self.apply_key("k1")
        self.wait_key_ready("k1")
        status, body = ctl.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn('sealift_reconcile_total{kind="SigningKey",result="success"}', body)
        self.assertIn("sealift_reconcile_duration_seconds_bucket", body)
        self.assertIn('sealift_workqueue_depth{kind="SigningKey"}', body)
        self.assertEqual(ctl.get("/nope")[0], 404)
        # structured logs carry kind, namespace/name and a reconcile id
        recs = [r for r in ctl.log_lines() if r.get("kind") == "SigningKey" and
                r.get("name") == "k1"]
        self.assertTrue(recs, "no log line about SigningKey k1")
        self.assertTrue(all(r.get("reconcileID") for r in recs))
        self.assertTrue(all(r.get("namespace") == "default" for r in recs))

    def test_watch_survives_drop_and_compaction(self):
        ctl = Controller(self, self.kube.kubeconfig)
        ctl.wait_ready()
        self.apply_key("before")
        self.wait_key_ready("before")
        self.kube.admin("drop-watches")
        self.apply_key("after-drop")
        self.wait_key_ready("after-drop")
        self.kube.admin("compact")
        self.kube.admin("drop-watches")
        self.apply_key("after-compact")
        self.wait_key_ready("after-compact")
        self.assertTrue(ctl.proc.alive())

    def test_leader_election_hand_over(self):
        a = Controller(self, self.kube.kubeconfig, name="ctl-a", extra_args=["--leader-elect"])
        procs.wait_for(lambda: self.lease_holder(), timeout=30, what="a Lease holder")
        b = Controller(self, self.kube.kubeconfig, name="ctl-b", extra_args=["--leader-elect"])
        b.wait_ready()
        holder = self.lease_holder()
        self.apply_key("led")
        self.wait_key_ready("led")
        # only the leader reconciled
        leader, follower = (a, b) if self.reconciled(a, "led") else (b, a)
        self.assertFalse(self.reconciled(follower, "led"))
        # graceful stop of the leader releases the Lease; the follower takes over quickly
        self.assertEqual(leader.stop(signal.SIGTERM), 0)
        procs.wait_for(lambda: self.lease_holder() not in ("", None, holder), timeout=30,
                       what="the follower to take the Lease")
        self.apply_key("after-handover")
        self.wait_key_ready("after-handover")
        self.assertTrue(self.reconciled(follower, "after-handover"))

    def lease_holder(self):
        cp = self.kube.kubectl("get", "lease", "-n", "sealift-system", "sealift-controller",
                               "-o", "json", check=False)
        if cp.returncode != 0:
            return None
        return json.loads(cp.stdout).get("spec", {}).get("holderIdentity")

    @staticmethod
    def reconciled(ctl, name):
        return any(r.get("kind") == "SigningKey" and r.get("name") == name and
                   r.get("reconcileID") for r in ctl.log_lines())

    def test_in_cluster_config_over_tls(self):
        tls = StandIn(os.path.join(self.tmp, "tls"), tls=True)
        os.makedirs(os.path.join(self.tmp, "tls"), exist_ok=True)
        tls.start(self)
        tls.kubectl("apply", "-k", os.path.join(procs.SRC, "crds"))
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(tls.port),
               "SEALIFT_SERVICEACCOUNT_DIR": tls.kubeconfig + ".serviceaccount",
               "KUBECONFIG": ""}
        args = [procs.SEALIFT, "controller", "--metrics-addr", "127.0.0.1:0",
                "--namespace", "sealift-system"]
        p = self.start(args, "ctl-incluster", env={**os.environ, **env})
        tls.kubectl("apply", "-f", "-", input=KEY % {"name": "tlskey"})
        procs.wait_for(lambda: ready_status(tls, "tlskey") == "True", timeout=30,
                       what="SigningKey Ready via in-cluster config")
        self.assertTrue(p.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
