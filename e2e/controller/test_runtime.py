"""The controller runtime end to end against a real kube-apiserver + etcd: health and metrics
endpoints, watches that survive an API server restart and an etcd compaction (410 -> relist),
leader election on a real Lease with graceful hand-over and failover after SIGKILL (the time is
printed), the in-cluster configuration path (TLS + a TokenRequest token of the sealift
ServiceAccount), and RBAC: the shipped ClusterRole is enough and no more."""
import json
import os
import signal
import sys
import time
import unittest

import procs
from controller import Controller
from kube import Cluster

KEY = """
apiVersion: sealift.dev/v1beta1
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
        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.kube.install()

    def apply_key(self, name):
        self.kube.kubectl("apply", "-f", "-", input=KEY % {"name": name})

    def wait_key_ready(self, name, timeout=30):
        procs.wait_for(lambda: ready_status(self.kube, name) == "True", timeout=timeout,
                       what=f"SigningKey {name} Ready")

    def test_health_metrics_and_logs(self):
        ctl = Controller(self, self.kube)
        ctl.wait_ready()
        self.assertEqual(ctl.get("/healthz")[0], 200)
        self.apply_key("k1")
        self.wait_key_ready("k1")
        # the reconcile is counted when it returns, just after its status write landed
        status, body = procs.wait_for(
            lambda: (lambda r: r if 'sealift_reconcile_total{kind="SigningKey",result="success"}'
                     in r[1] else None)(ctl.get("/metrics")),
            timeout=10, what="the reconcile to be counted")
        self.assertEqual(status, 200)
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
        ctl = Controller(self, self.kube)
        ctl.wait_ready()
        self.apply_key("before")
        self.wait_key_ready("before")
        # every watch is dropped while the API server is away; objects changed meanwhile are
        # picked up when it is back
        self.kube.restart_apiserver()
        self.apply_key("after-restart")
        self.wait_key_ready("after-restart")
        # compaction past the controller's resourceVersion + dropped watches: the resumed watch
        # gets 410 Gone and the informer relists
        for i in range(5):
            self.apply_key(f"churn-{i}")
        for i in range(5):
            self.wait_key_ready(f"churn-{i}")
        self.kube.compact()
        self.kube.restart_apiserver()
        self.apply_key("after-compact")
        self.wait_key_ready("after-compact")
        self.assertTrue(ctl.proc.alive())

    def test_leader_election_hand_over(self):
        a = Controller(self, self.kube, name="ctl-a", extra_args=["--leader-elect"])
        procs.wait_for(lambda: self.lease_holder(), timeout=30, what="a Lease holder")
        b = Controller(self, self.kube, name="ctl-b", extra_args=["--leader-elect"])
        b.wait_ready()
        holder = self.lease_holder()
        self.apply_key("led")
        self.wait_key_ready("led")
        # only the leader reconciled (its log line may land just after the status write)
        procs.wait_for(lambda: self.reconciled(a, "led") or self.reconciled(b, "led"),
                       timeout=30, what="the leader's log line for led")
        leader, follower = (a, b) if self.reconciled(a, "led") else (b, a)
        self.assertFalse(self.reconciled(follower, "led"))
        # graceful stop of the leader releases the Lease; the follower takes over quickly
        self.assertEqual(leader.stop(signal.SIGTERM), 0)
        procs.wait_for(lambda: self.lease_holder() not in ("", None, holder), timeout=30,
                       what="the follower to take the Lease")
        self.apply_key("after-handover")
        self.wait_key_ready("after-handover")
        procs.wait_for(lambda: self.reconciled(follower, "after-handover"), timeout=30,
                       what="the new leader's log line for after-handover")

    def test_leader_killed_standby_takes_over(self):
        """SIGKILL of the leader (no Lease release): the standby takes over when the Lease
        expires, with the default timings. The failover time is printed for the notes."""
        a = Controller(self, self.kube, name="ctl-a", extra_args=["--leader-elect"])
        procs.wait_for(lambda: self.lease_holder(), timeout=30, what="a Lease holder")
        b = Controller(self, self.kube, name="ctl-b", extra_args=["--leader-elect"])
        b.wait_ready()
        self.apply_key("first")
        self.wait_key_ready("first")
        holder = self.lease_holder()
        leader, standby = (a, b) if self.identity(a) == holder else (b, a)
        self.assertEqual(self.identity(leader), holder)
        killed_at = time.monotonic()
        leader.stop(signal.SIGKILL)
        procs.wait_for(lambda: self.lease_holder() not in ("", None, holder), timeout=60,
                       interval=0.1, what="the standby to take the Lease")
        failover_s = time.monotonic() - killed_at
        print(f"leader failover after SIGKILL: {failover_s:.1f} s (real Lease API)",
              file=sys.stderr)
        self.apply_key("after-failover")
        self.wait_key_ready("after-failover")
        # the new leader's log line may land just after its status write
        procs.wait_for(lambda: self.reconciled(standby, "after-failover"), timeout=30,
                       what="the new leader's log line for after-failover")

    def lease_holder(self):
        cp = self.kube.kubectl("get", "lease", "-n", "sealift-system", "sealift-controller",
                               "-o", "json", check=False)
        if cp.returncode != 0:
            return None
        return json.loads(cp.stdout).get("spec", {}).get("holderIdentity")

    @staticmethod
    def identity(ctl):
        for r in ctl.log_lines():
            if r.get("msg") == "became leader":
                return r.get("identity")
        return None

    @staticmethod
    def reconciled(ctl, name):
        return any(r.get("kind") == "SigningKey" and r.get("name") == name and
                   r.get("reconcileID") for r in ctl.log_lines())

    def test_in_cluster_config_over_tls(self):
        """The controller as the Deployment runs it: KUBERNETES_SERVICE_HOST/PORT and the
        ServiceAccount's token, CA and namespace files (a TokenRequest token)."""
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(self.kube.port),
               "SEALIFT_SERVICEACCOUNT_DIR": self.kube.serviceaccount_dir,
               "KUBECONFIG": ""}
        args = [procs.SEALIFT, "controller", "--metrics-addr", "127.0.0.1:0"]
        p = self.start(args, "ctl-incluster", env={**os.environ, **env})
        self.apply_key("tlskey")
        self.wait_key_ready("tlskey")
        self.assertTrue(p.alive())
        # the writes were made by the ServiceAccount, as the managedFields show
        obj = json.loads(self.kube.kubectl("get", "signingkey", "tlskey", "-o", "json",
                                           "--show-managed-fields").stdout)
        managers = {m["manager"] for m in obj["metadata"].get("managedFields", [])}
        self.assertTrue(any(m.startswith("sealift") for m in managers), managers)

    def test_rbac_is_enough_and_no_more(self):
        """The shipped ClusterRole: what the controller uses is allowed, what it must not do is
        denied by the real authorizer."""
        def can(*args):
            cp = self.kube.kubectl("auth", "can-i", *args, check=False, as_controller=True)
            return cp.stdout.strip() == "yes"
        for verb, res in (("watch", "imagedeliveries.sealift.dev"),
                          ("patch", "imagedeliveries.sealift.dev/status"),
                          ("create", "secrets"), ("get", "secrets"),
                          ("create", "validatingadmissionpolicies.admissionregistration.k8s.io"),
                          ("create", "events")):
            self.assertTrue(can(verb, res, "-n", "default"), f"{verb} {res} should be allowed")
        for verb, res in (("update", "secrets"), ("delete", "secrets"), ("patch", "secrets"),
                          ("create", "pods"), ("delete", "namespaces"),
                          ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
                          ("create", "serviceaccounts/token"), ("impersonate", "users")):
            self.assertFalse(can(verb, res, "-n", "default"), f"{verb} {res} should be denied")
        # a real request with the controller's token is refused by the API server
        cp = self.kube.kubectl("delete", "secret", "whatever", "-n", "default", check=False,
                               as_controller=True)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("forbidden", cp.stderr)
        self.assertIn("system:serviceaccount:sealift-system:sealift-controller", cp.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
