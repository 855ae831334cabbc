"""HTTPS with a generated CA and a bearer token (kubeconfig and in-cluster service-account
layout), and state snapshots that survive a restart."""
import json
import os
import unittest

import procs
from kube import StandIn
from standin_fixtures import CRD, GROUP, widget, write

from kubernetes import client
from kubernetes.config import incluster_config


class TlsTest(procs.TempDirTestCase):
    def test_tls_token_kubeconfig_and_incluster(self):
        api = StandIn(self.tmp, tls=True).start(self)
        self.assertTrue(api.url.startswith("https://127.0.0.1:"))
        out = api.kubectl("get", "ns", "-o", "name").stdout.split()
        self.assertIn("namespace/kube-system", out)
        # no token, wrong token: 401
        saved = api.token
        api.token = None
        status, _, st = api.request("GET", "/api/v1/namespaces")
        self.assertEqual((status, st["reason"]), (401, "Unauthorized"))
        api.token = "wrong"
        status, _, _ = api.request("GET", "/api/v1/namespaces")
        self.assertEqual(status, 401)
        api.token = saved
        # the certificate is not trusted without the CA
        bad = procs.run(["kubectl", "--server", api.url, "--token", api.token, "get", "ns"],
                        check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("certificate", bad.stderr)
        # in-cluster layout
        sa = api.serviceaccount_dir
        self.assertEqual(open(os.path.join(sa, "namespace")).read(), "default")
        self.assertEqual(open(os.path.join(sa, "token")).read(), api.token)
        loader = incluster_config.InClusterConfigLoader(
            token_filename=os.path.join(sa, "token"), cert_filename=os.path.join(sa, "ca.crt"),
            environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                     "KUBERNETES_SERVICE_PORT": str(api.port)})
        cfg = client.Configuration()
        loader.load_and_set(cfg)
        with client.ApiClient(cfg) as c:
            names = [n.metadata.name for n in client.CoreV1Api(c).list_namespace().items]
        self.assertIn("default", names)
        # python client from the kubeconfig
        with api.api_client() as c:
            cm = client.CoreV1Api(c).create_namespaced_config_map(
                "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="tls")))
            self.assertEqual(cm.metadata.name, "tls")


class StateTest(procs.TempDirTestCase):
    def test_snapshot_and_restart(self):
        state = os.path.join(self.tmp, "state.json")
        api = StandIn(self.tmp, state=state).start(self)
        api.kubectl("apply", "-f", write(os.path.join(self.tmp, "crd.yaml"), CRD))
        api.kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}")
        api.kubectl("apply", "-f", write(os.path.join(self.tmp, "w.yaml"), widget("keep")))
        api.kubectl("create", "namespace", "team-b")
        snap = api.admin("snapshot")
        self.assertTrue(os.path.exists(state))
        before = json.loads(api.kubectl("get", "wd", "keep", "-o", "json").stdout)
        api.kubectl("apply", "-f", write(os.path.join(self.tmp, "w2.yaml"), widget("late")))
        self.assertEqual(api.stop(), 0)
        again = StandIn(self.tmp, state=state, name="kube-standin-2").start(self)
        after = json.loads(again.kubectl("get", "wd", "keep", "-o", "json").stdout)
        self.assertEqual(after["metadata"]["uid"], before["metadata"]["uid"])
        self.assertEqual(after["metadata"]["resourceVersion"],
                         before["metadata"]["resourceVersion"])
        # saved on SIGTERM too, so the object created after the snapshot is there
        again.kubectl("get", "wd", "late")
        self.assertIn("team-b", again.kubectl("get", "ns").stdout)
        self.assertGreaterEqual(int(after["metadata"]["resourceVersion"]), 1)
        self.assertLess(int(snap["resourceVersion"]), 10 ** 9)
        w = again.kubectl("apply", "-f", write(os.path.join(self.tmp, "w3.yaml"),
                                               widget("new"))).stdout
        self.assertIn("created", w)
        new = json.loads(again.kubectl("get", "wd", "new", "-o", "json").stdout)
        self.assertGreater(int(new["metadata"]["resourceVersion"]),
                           int(after["metadata"]["resourceVersion"]))
        # a watch from before the restart is too old
        status, _, ev = again.request(
            "GET", f"/apis/{GROUP}/v1/widgets?watch=1&resourceVersion=2&timeoutSeconds=2")
        ev = ev if isinstance(ev, dict) else json.loads(ev.splitlines()[0])
        self.assertEqual((ev["type"], ev["object"]["code"]), ("ERROR", 410))


if __name__ == "__main__":
    unittest.main()
