"""A slow registry does not stall the admission webhook: while reviews of an image whose registry
accepts connections and never answers are waiting (on the webhook's worker threads), a review
of a cached image is admitted, and /healthz on the webhook listener and on the metrics listener
answer. Concurrent reviews of the stuck image share one registry check, and both are denied (fail closed) by the webhook itself before the API server's timeout. Once the
registry is gone for good, the controller still shuts down cleanly on SIGTERM.

Real docker-registry for the signed image, kubectl through the real kube-apiserver (which calls
the webhook with the generated timeoutSeconds), and a TCP black hole on 127.0.0.1.
Everything is asserted on order of completion, not on wall time."""
import json
import os
import socket
import ssl
import subprocess
import threading
import unittest
import urllib.request

import procs
import registry as reglib
from controller import Controller
from kube import Cluster

POLICY = """apiVersion: sealift.dev/v1beta1
kind: DeployPolicy
metadata: {name: signed-only}
spec:
  namespaceSelector:
    matchLabels: {sealift.dev/enforce: "true"}
  verifyImages:
  - imageReferences: ["*"]
    authorities:
    - name: release
      key: {signingKeyRef: {namespace: vendor-acme, name: release, fingerprint: "%s"}}
  outputs: [ValidatingAdmissionPolicy]
"""

POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: shop}
spec:
  imagePullSecrets: [{name: customer-pull}]
  containers:
  - name: app
    image: %(image)s
"""


class BlackHole:
    """A 'registry' on 127.0.0.1 that accepts TCP connections, reads nothing and never answers.
    release() closes every connection and the listener (later connects are refused)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)

    def accepted(self):
        with self.lock:
            return len(self.conns)

    def release(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()


class SlowRegistryTest(procs.TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.reg = reglib.Registry(self, "customer", users={"cust": "pw-cust"})
        self.hole = BlackHole()
        self.addCleanup(self.hole.release)
        layout = os.path.join(self.tmp, "layout")
        lay = reglib.Layout(layout)
        lay.tag(lay.image([1024], seed=21), "1.0")
        reglib.push(layout, "1.0", f"{self.reg.host}/mirror/app:1.0", creds=self.reg.creds())
        self.digest = reglib.sha256_digest(reglib.inspect_raw(
            f"{self.reg.host}/mirror/app:1.0", self.reg.creds()))
        self.signed = f"{self.reg.host}/mirror/app@{self.digest}"
        self.stuck = f"{self.hole.host}/mirror/app@{self.digest}"

        self.kube = Cluster(self.tmp)
        self.kube.start(self)
        self.webhook_port = self.kube.webhook_port
        self.certs = self.kube.webhook_cert_dir
        k = self.kube.kubectl
        self.kube.install()
        # only the API server's webhook client certificate (and this test's copy) is answered
        self.ctl = Controller(self, self.kube, webhook=True, extra_args=[
            "--insecure-registry", self.reg.host, "--insecure-registry", self.hole.host,
            "--webhook-client-ca", self.kube.ca_path,
            "--webhook-client-name", "kube-apiserver-webhook-client"])
        self.ctl.wait_ready()
        k("create", "namespace", "vendor-acme")
        k("create", "namespace", "shop")
        k("label", "namespace", "shop", "sealift.dev/enforce=true")
        k("create", "secret", "docker-registry", "customer-pull", "-n", "shop",
          f"--docker-server={self.reg.host}", "--docker-username=cust",
          "--docker-password=pw-cust")
        k("apply", "-f", "-", input="""
apiVersion: sealift.dev/v1beta1
kind: SigningKey
metadata: {name: release, namespace: vendor-acme}
spec: {mode: Generate, secretRef: {name: release-key}}
""")
        k("wait", "--for=condition=Ready", "-n", "vendor-acme", "sigkey/release",
          "--timeout=30s")
        keyfile = os.path.join(self.tmp, "release.key")
        env = self.kube.signing_key_file("vendor-acme", "release-key", keyfile)
        procs.run([procs.SEALIFT, "sign", f"{self.reg.host}/mirror/app:1.0", "--key", keyfile,
                   "--creds", self.reg.creds(), "--insecure"], env=env)
        fp = k("get", "sigkey", "-n", "vendor-acme", "release", "-o",
               "jsonpath={.status.fingerprint}").stdout.strip()
        k("apply", "-f", "-", input=POLICY % fp)
        k("wait", "--for=condition=Ready", "deploypolicy/signed-only", "--timeout=30s")
        self.tls = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        self.tls.load_cert_chain(self.kube.webhook_client_cert, self.kube.webhook_client_key)

    def start_apply(self, name, image):
        """kubectl apply of a Pod in the background (the API server calls the webhook)."""
        path = os.path.join(self.tmp, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(POD % {"name": name, "image": image})
        return subprocess.Popen(
            ["kubectl", "--kubeconfig", self.kube.kubeconfig, "--cache-dir",
             self.kube.cache_dir, "apply", "-f", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def reap(p):
        if p.poll() is None:
            p.kill()
        p.communicate()

    def webhook_get(self, path):
        url = f"https://127.0.0.1:{self.webhook_port}{path}"
        with urllib.request.urlopen(url, context=self.tls, timeout=30) as r:
            return r.status, r.read().decode()

    def review(self, uid, image):
        """Posts an AdmissionReview for a Pod with image straight to the webhook."""
        body = json.dumps({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "namespace": "shop", "operation": "CREATE",
                        "object": {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": uid, "namespace": "shop"},
                                   "spec": {"imagePullSecrets": [{"name": "customer-pull"}],
                                            "containers": [{"name": "app", "image": image}]}}}})
        req = urllib.request.Request(
            f"https://127.0.0.1:{self.webhook_port}/admission/signed-only?timeout=10s",
            data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.tls, timeout=30) as r:
            return json.loads(r.read())["response"]

    def metric(self, name, labels):
        status, text = self.ctl.get("/metrics")
        self.assertEqual(status, 200)
        for line in text.splitlines():
            if line.startswith(f"{name}{{{labels}}} "):
                return float(line.split()[-1])
        return 0.0

    def checks(self, via):
        return self.metric("sealift_admission_image_checks_total", f'via="{via}"')

    def test_stuck_registry_does_not_stall_warm_reviews_or_health(self):
        # warm the cache: the signed image is checked once against the real registry
        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "warm-0", "image": self.signed})
        self.assertEqual(cp.returncode, 0, cp.stderr)

        # two reviews of an image in the black-holed registry: one registry check between them
        cold1 = self.start_apply("cold-1", self.stuck)
        self.addCleanup(self.reap, cold1)
        procs.wait_for(lambda: self.hole.accepted() >= 1, timeout=30,
                       what="the webhook's registry check to connect to the black hole")
        cold2 = self.start_apply("cold-2", self.stuck)
        self.addCleanup(self.reap, cold2)
        procs.wait_for(lambda: self.checks("coalesced") >= 1,
                       timeout=30, what="the second review to join the running check")

        # meanwhile the webhook keeps answering, while both cold reviews are still waiting on
        # the registry: a cached image (straight to the webhook, then through kubectl) and
        # health on the webhook listener and on the metrics listener
        answer = self.review("warm-direct", self.signed)
        self.assertTrue(answer["allowed"], answer)
        self.assertEqual(self.webhook_get("/healthz"), (200, "ok"))
        self.assertEqual(self.ctl.get("/healthz")[0], 200)
        self.assertIsNone(cold1.poll(), "a cold review finished before the warm ones")
        self.assertIsNone(cold2.poll(), "a cold review finished before the warm ones")
        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "warm-1", "image": self.signed})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIsNone(cold1.poll(), "a cold review finished before the warm ones")
        self.assertIsNone(cold2.poll(), "a cold review finished before the warm ones")
        # one registry check for the signed image (warm-0) and one for both cold reviews
        self.assertEqual(self.checks("worker"), 2)
        self.assertEqual(self.checks("coalesced"), 1)
        self.assertEqual(self.checks("cache"), 2)

        # the webhook denies both itself, before the API server's timeout (the API server would
        # report "context deadline exceeded" otherwise), and nothing was created
        for name, p in (("cold-1", cold1), ("cold-2", cold2)):
            _, err = p.communicate(timeout=120)
            self.assertNotEqual(p.returncode, 0, name)
            self.assertIn('admission webhook "signed-only.deploypolicy.sealift.dev" denied the '
                          'request', err)
            self.assertIn(f"image {self.stuck} (container app): the check did not finish", err)
            self.assertIn("failing closed", err)
            self.assertNotIn("deadline exceeded", err)
            self.assertEqual(self.kube.kubectl("get", "pod", "-n", "shop", name,
                                               check=False).returncode, 1)
        self.assertEqual(self.checks("worker"), 2)

        # the registry goes away for good: the next review of that image is checked again (a
        # registry error is never cached) and gets the registry error
        self.hole.release()
        cp = self.kube.kubectl("apply", "-f", "-", check=False,
                               input=POD % {"name": "cold-3", "image": self.stuck})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("verifyImages[0].authorities: no valid signature (registry error)", cp.stderr)

        # SIGTERM: the workers are joined and the process exits cleanly (ASan/LSan report
        # nothing in the test build)
        self.assertEqual(self.ctl.stop(), 0, self.ctl.proc.output()[-3000:])
        out = self.ctl.proc.output()
        self.assertNotIn("AddressSanitizer", out)
        self.assertNotIn("LeakSanitizer", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
